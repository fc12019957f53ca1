using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>The child side of the call-contract tests (IIC.Transport.Tests CallContractTests): threads, timeouts, lifetimes.</summary>
internal static class ContractScenarios
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(60);

    /// <summary>
    /// args: hypervisor socketDir service ring threads perThread. Connects, prints "connected", then runs `threads`
    /// sending threads (senders numbered from `threads`) and `threads` receiving threads on the one channel, checking
    /// the parent's numbered messages; prints "ok N" (or "problem ..."), then waits for "exit" on stdin.
    /// </summary>
    [Scenario("contract-many-threads")]
    private static int ManyThreads(string[] args)
    {
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        var threads = int.Parse(args[4], CultureInfo.InvariantCulture);
        var perThread = long.Parse(args[5], CultureInfo.InvariantCulture);
        var (incoming, sendError) = SequencedTraffic.RunBothWays(channel, threads, threads, perThread, threads, new SequencedTraffic(threads, perThread, firstSender: 0), s_bound);
        var problem = incoming.Problem ?? sendError?.ToString();
        Console.WriteLine(problem is null ? string.Create(CultureInfo.InvariantCulture, $"ok {incoming.Received}") : "problem " + problem.ReplaceLineEndings(" | "));
        return Console.In.ReadLine() == "exit" && problem is null ? 0 : 1;
    }

    /// <summary>
    /// args: hypervisor socketDir service ring. A reader that stops: connects, prints "connected", reads nothing until
    /// "go" on stdin, then receives messages and prints each as "LENGTH CHECKSUM" until the peer closes ("closed").
    /// </summary>
    [Scenario("contract-stalled-reader")]
    private static int StalledReader(string[] args)
    {
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        if (Console.In.ReadLine() != "go")
        {
            return 2;
        }
        var buffer = new byte[64 << 20];
        try
        {
            while (true)
            {
                var length = channel.Receive(buffer);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{length} {SequencedTraffic.Checksum(buffer.AsSpan(0, length))}"));
            }
        }
        catch (IicChannelClosedException)
        {
            Console.WriteLine("closed");
            return 0;
        }
    }

    /// <summary>
    /// args: hypervisor socketDir service ring. Echoes every message until the peer closes ("closed", exit 0); a
    /// PeerDeadException prints "dead" and exits 3 (the parent's partition disposal must not look like its death).
    /// </summary>
    [Scenario("contract-echo")]
    private static int Echo(string[] args)
    {
        using var partition = Attach(args);
        using var channel = Connect(partition, args);
        Console.WriteLine("connected");
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                var length = channel.Receive(buffer);
                channel.Send(buffer.AsSpan(0, length));
            }
        }
        catch (IicChannelClosedException)
        {
            Console.WriteLine("closed");
            return 0;
        }
        catch (PeerDeadException)
        {
            Console.WriteLine("dead");
            return 3;
        }
    }

    private static Partition Attach(string[] args) => Partition.Attach(args[0], "child-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);

    private static IicChannel Connect(Partition partition, string[] args)
        => IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = int.Parse(args[3], CultureInfo.InvariantCulture) });
}
