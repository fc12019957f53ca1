using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// The honest peer of tests/IIC.Reliability.Tests/GroupChurnTests.cs (issue 12's edges): it uses its grouped channels
/// to the victim in ways an honest program does (a channel the victim removed from its group but still reads,
/// channels that open and close without a message) and must never get its page demoted.
/// </summary>
internal static class GroupChurnScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// args: hypervisor socketDir service messages churns. Connects a keeper channel and a second one, prints
    /// "connected"; on "send" sends <c>messages</c> messages on the second channel, each after the victim took the
    /// previous one (it echoes a byte back), prints "sent"; on "churn" connects <c>churns</c> channels one after the
    /// other, each closed by the victim first and then by us, prints "churned"; then sends one message on the keeper
    /// and waits for stdin to close.
    /// </summary>
    [Scenario("gc-honest")]
    private static int Honest(string[] args)
    {
        var messages = int.Parse(args[3], CultureInfo.InvariantCulture);
        var churns = int.Parse(args[4], CultureInfo.InvariantCulture);
        var options = new ChannelOptions { RingCapacity = 1 << 16 };
        using var partition = Partition.Attach(args[0], "churner-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        using var keeper = IicChannel.Connect(partition, args[2], options, s_timeout);
        using var removed = IicChannel.Connect(partition, args[2], options, s_timeout);
        Console.WriteLine("connected");
        if (Console.ReadLine() != "send")
        {
            return 1;
        }
        var message = new byte[8];
        var ack = new byte[8];
        for (var i = 0; i < messages; i++)
        {
            BitConverter.TryWriteBytes(message, i);
            removed.Send(message);
            if (!removed.TryReceive(ack, out _, s_timeout)) // one message in the ring at a time: every send is a fresh raise
            {
                return 2;
            }
        }
        Console.WriteLine("sent");
        if (Console.ReadLine() != "churn")
        {
            return 1;
        }
        for (var i = 0; i < churns; i++)
        {
            using var channel = IicChannel.Connect(partition, args[2], options, s_timeout);
            try
            {
                channel.TryReceive(ack, out _, s_timeout); // the victim closes first
                return 3;
            }
            catch (IicChannelClosedException)
            {
                // Expected: now our close raises the victim's vector for a channel its group no longer holds.
            }
        }
        Console.WriteLine("churned");
        keeper.Send(message);
        Console.In.ReadToEnd();
        return 0;
    }
}
