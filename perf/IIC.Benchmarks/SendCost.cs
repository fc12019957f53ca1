using System.Diagnostics;
using System.Globalization;
using IIC.Transport;

namespace IIC.Benchmarks;

/// <summary>
/// <c>--send-cost [rounds] [size]</c>: what one <see cref="IicChannel.Send(ReadOnlySpan{byte})"/> costs its thread, the
/// sender's side of one-way streaming alone (issue 17, round 10): on one thread, in an in-process pair (1 MiB ring, in
/// this core's cache), a burst of 4096 messages is timed, then drained untimed with TryReceive; ns per send, the median
/// and the best of the rounds' bursts (and the drain's TryReceive per message beside it), for a default channel and a SingleWriter/SingleReader one. ChannelBatchBenchmarks
/// times the send and the receive together; this leaves the receive out, so two builds' senders compare directly
/// (interleave runs of each; the box's placement does not matter to a one-thread loop, its load does). Runs with
/// tiered compilation off (it restarts itself so), as IIC.Perf does.
/// </summary>
public static class SendCost
{
    private const int Burst = 4096; // 256 KiB of 64 B records: the 1 MiB ring never fills

    public static int Run(string[] args)
    {
        if (Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") != "0")
        {
            // As IIC.Perf: fully optimised code from the first call. With tiering the loop read 36-55 ns per send
            // against 13 ns (the background tier-up starves on a loaded 2-vCPU box, and AggressiveOptimization on the
            // loop alone leaves the channel's methods in tier 0), so the child runs with it off.
            var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
            if (!Environment.ProcessPath!.EndsWith("IIC.Benchmarks", StringComparison.Ordinal))
            {
                start.ArgumentList.Add(typeof(SendCost).Assembly.Location);
            }
            foreach (var arg in args)
            {
                start.ArgumentList.Add(arg);
            }
            start.Environment["DOTNET_TieredCompilation"] = "0";
            using var child = Process.Start(start)!;
            child.WaitForExit();
            return child.ExitCode;
        }
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        var size = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 32;
        foreach (var single in new[] { false, true })
        {
            var (sender, receiver) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 1 << 20, SingleWriter = single, SingleReader = single });
            using (sender)
            using (receiver)
            {
                var message = new byte[size];
                var buffer = new byte[Math.Max(size, 64)];
                var perSend = new double[rounds];
                var perReceive = new double[rounds];
                for (var warm = 0; warm < 50; warm++)
                {
                    Burst1(sender, message);
                    Drain(receiver, buffer);
                }
                for (var r = 0; r < rounds; r++)
                {
                    var start = Stopwatch.GetTimestamp();
                    Burst1(sender, message);
                    var sent = Stopwatch.GetTimestamp();
                    if (Drain(receiver, buffer) != Burst)
                    {
                        throw new InvalidOperationException("a burst was not delivered whole");
                    }
                    var drained = Stopwatch.GetTimestamp();
                    perSend[r] = (sent - start) * (1e9 / Stopwatch.Frequency) / Burst;
                    perReceive[r] = (drained - sent) * (1e9 / Stopwatch.Frequency) / Burst;
                }
                Array.Sort(perSend);
                Array.Sort(perReceive);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"send {size} B {(single ? "single-roles" : "default     ")}: median {perSend[rounds / 2]:F2} ns, best {perSend[0]:F2} ns, p90 {perSend[rounds * 9 / 10]:F2} ns per send; the drain's TryReceive median {perReceive[rounds / 2]:F2} ns ({rounds} bursts of {Burst})"));
            }
        }
        return 0;
    }

    private static void Burst1(IicChannel sender, byte[] message)
    {
        for (var i = 0; i < Burst; i++)
        {
            sender.Send(message);
        }
    }

    private static int Drain(IicChannel receiver, byte[] buffer)
    {
        var count = 0;
        while (receiver.TryReceive(buffer, out _))
        {
            count++;
        }
        return count;
    }
}
