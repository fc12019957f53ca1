using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>The peer of tests/IIC.Transport.Tests/GroupWaitAloneTests.cs: sends on command to a grouped receiver.</summary>
internal static class GroupAloneScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// args: hypervisor socketDir service ringCapacity. Connects a keeper channel and a subject channel, prints
    /// "connected"; then per line on stdin: "send" sends the next sequence number (int64) on the subject, "keeper" one on
    /// the keeper, "close" closes the subject; each answers "ok". Ends when stdin closes.
    /// </summary>
    [Scenario("group-alone-peer")]
    private static int Peer(string[] args)
    {
        var options = new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) };
        using var partition = Partition.Attach(args[0], "alone-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        using var keeper = IicChannel.Connect(partition, args[2], options, s_timeout);
        var subject = IicChannel.Connect(partition, args[2], options, s_timeout);
        Console.WriteLine("connected");
        var message = new byte[8];
        long sequence = 0;
        while (Console.ReadLine() is { } line)
        {
            switch (line)
            {
                case "send":
                    BitConverter.TryWriteBytes(message, sequence++);
                    subject.Send(message);
                    break;
                case "keeper":
                    keeper.Send(message);
                    break;
                case "close":
                    subject.Dispose();
                    break;
                default:
                    return 1;
            }
            Console.WriteLine("ok");
        }
        subject.Dispose();
        return 0;
    }
}
