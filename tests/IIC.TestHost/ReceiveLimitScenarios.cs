using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>The peer of the receive-limit tests whose receiver reads through a Stream or a duplex pipe.</summary>
internal static class ReceiveLimitScenarios
{
    /// <summary>
    /// args[4] messages of args[5] bytes (TransportScenarios' <see cref="Pattern"/>, sequences 0, 1, ...), then one raw
    /// Send of args[6] bytes (over the parent's receive limit). Prints "connected", then how that send ended ("send ended:
    /// closed" when the parent closed the channel meanwhile) and how a next send ends ("next send: closed"), then receives
    /// until the parent's end and prints "received BYTES" (what the parent sent before it closed). With args[7] "announce"
    /// it prints "sent COUNT" once the small messages are sent (they must fit in the ring), so the parent can start
    /// reading only then.
    /// </summary>
    [Scenario("refusal-sender")]
    private static int RefusalSender(string[] args)
    {
        var count = int.Parse(args[4], CultureInfo.InvariantCulture);
        var size = int.Parse(args[5], CultureInfo.InvariantCulture);
        var oversized = int.Parse(args[6], CultureInfo.InvariantCulture);
        using var partition = Partition.Attach(args[0], "child-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        using var channel = IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) });
        Console.WriteLine("connected");
        var message = new byte[size];
        for (var i = 0; i < count; i++)
        {
            Pattern.Fill(message, i);
            channel.Send(message);
        }
        if (args.Length > 7 && args[7] == "announce")
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sent {count}"));
        }
        Console.WriteLine(SendEnd("send ended", channel, new byte[oversized]));
        Console.WriteLine(SendEnd("next send", channel, message));
        var buffer = new byte[64 * 1024];
        long received = 0;
        try
        {
            while (true)
            {
                received += channel.Receive(buffer);
            }
        }
        catch (IicChannelClosedException)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"received {received}"));
        }
        return 0;
    }

    private static string SendEnd(string what, IicChannel channel, byte[] message)
    {
        try
        {
            channel.Send(message); // blocks while the parent's ring is full
            return what + ": sent";
        }
        catch (IicChannelClosedException)
        {
            return what + ": closed";
        }
    }
}
