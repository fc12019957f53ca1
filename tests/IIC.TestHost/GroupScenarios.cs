using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>Sender partitions for the fan-in tests: many channels into one grouped receiver.</summary>
internal static class GroupScenarios
{
    /// <summary>
    /// args: hypervisor socket-directory service channels messages-per-channel ring-capacity. Connects the
    /// channels, prints "connected", then sends [channel index:int32][sequence:int32][sender id:int32] on every
    /// channel round robin, prints "sent", and waits for stdin to close before disposing them.
    /// </summary>
    [Scenario("group-sender")]
    private static int Sender(string[] args)
    {
        var channelCount = int.Parse(args[3], CultureInfo.InvariantCulture);
        var perChannel = int.Parse(args[4], CultureInfo.InvariantCulture);
        var capacity = int.Parse(args[5], CultureInfo.InvariantCulture);
        using var partition = Partition.Attach(args[0], "sender-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        var channels = new IicChannel[channelCount];
        for (var i = 0; i < channelCount; i++)
        {
            channels[i] = IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = capacity }, TimeSpan.FromSeconds(30));
        }
        Console.WriteLine("connected");
        Span<byte> message = stackalloc byte[12];
        for (var sequence = 0; sequence < perChannel; sequence++)
        {
            for (var i = 0; i < channelCount; i++)
            {
                BitConverter.TryWriteBytes(message, i);
                BitConverter.TryWriteBytes(message[4..], sequence);
                BitConverter.TryWriteBytes(message[8..], Environment.ProcessId);
                channels[i].Send(message);
            }
        }
        Console.WriteLine("sent");
        Console.In.ReadToEnd(); // the parent closes stdin when it has everything
        foreach (var channel in channels)
        {
            channel.Dispose();
        }
        return 0;
    }
}
