using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using GreeterClient = Greeter.Greeter.GreeterClient;

namespace IIC.GrpcPerf;

/// <summary>
/// The HTTP/2 paths measured in interleaved blocks: all of them open at once (each on its own connection, warmed first),
/// then every test's calls split into <c>--blocks</c> blocks taken in turn (block 0: iic, tcp, uds; block 1: tcp, uds,
/// iic; ...: each path goes first equally often), each path's samples merged into one histogram. The paths share one
/// HTTP/2 client and one Kestrel, so whatever the process still has to do once (a method compiled on its first use, a
/// gen0 GC into fresh heap pages, a background thread's first run) and the host's drift over the seconds of a run now hit
/// every path alike instead of the first one measured (round 8: http2-iic, measured first, took 6-52 methods of JIT
/// and ~200-3000 page faults during its measured calls, TCP after it 0 and 1-10). The rows and the JSON are as before.
/// </summary>
internal static class Http2Blocks
{
    /// <summary>Measures <paramref name="tests"/> over <paramref name="paths"/> (opened with <paramref name="open"/>); one row per path and test, path-major.</summary>
    public static async Task<List<PerfRow>> RunAsync(IReadOnlyList<string> paths, IReadOnlyList<string> tests, int blocks, Func<string, (CallInvoker Invoker, IDisposable Owner)> open,
        int warmup, int calls, int idleCalls, TimeSpan idleGap, int streamCount)
    {
        var owners = new List<IDisposable>();
        var rows = new Dictionary<(string Path, string Test), PerfRow>();
        try
        {
            var clients = new GreeterClient[paths.Count];
            for (var p = 0; p < paths.Count; p++)
            {
                var (invoker, owner) = open(paths[p]);
                owners.Add(owner);
                clients[p] = new GreeterClient(invoker);
            }
            foreach (var test in tests)
            {
                var collections = GC.CollectionCount(0);
                var steal = StealTime.Now();
                var tallies = new Tally[paths.Count];
                for (var p = 0; p < paths.Count; p++)
                {
                    tallies[p] = new Tally(paths[p]);
                }
                switch (test)
                {
                    case "unary":
                        for (var p = 0; p < paths.Count; p++)
                        {
                            await Measurements.WarmUnaryAsync(clients[p], warmup);
                            var more = await WarmUntilNoFaultsAsync(clients[p]);
                            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{paths[p]}: {more} more warm-up calls until a chunk of 500 took at most 5 page faults"));
                        }
                        ThreadStats.Warm(); // its first snapshot compiles and faults in outside the measured blocks
                        await InTurnsAsync(paths.Count, blocks, calls, (p, n) => Measurements.UnaryBlockAsync(clients[p], n, tallies[p]));
                        break;
                    case "unary-idle":
                        for (var p = 0; p < paths.Count; p++)
                        {
                            await Measurements.WarmUnaryAsync(clients[p], 1, TimeSpan.Zero);
                        }
                        await InTurnsAsync(paths.Count, blocks, idleCalls, (p, n) => Measurements.UnaryIdleBlockAsync(clients[p], n, idleGap, tallies[p]));
                        break;
                    case "server-stream":
                        for (var p = 0; p < paths.Count; p++)
                        {
                            await Measurements.StreamOnceAsync(clients[p], Math.Max(100, streamCount / 10));
                        }
                        await InTurnsAsync(paths.Count, blocks, streamCount, (p, n) => Measurements.ServerStreamBlockAsync(clients[p], n, tallies[p]));
                        break;
                    case "bidi-pingpong":
                        var chats = new Measurements.Chat[paths.Count];
                        try
                        {
                            for (var p = 0; p < paths.Count; p++)
                            {
                                chats[p] = await Measurements.Chat.OpenAsync(clients[p], warmup / 2);
                            }
                            await InTurnsAsync(paths.Count, blocks, calls, (p, n) => chats[p].BlockAsync(n, tallies[p]));
                            foreach (var chat in chats)
                            {
                                await chat.CloseAsync();
                            }
                        }
                        finally
                        {
                            foreach (var chat in chats)
                            {
                                chat?.Dispose();
                            }
                        }
                        break;
                    default:
                        throw new ArgumentOutOfRangeException(nameof(tests), test, "Tests: " + string.Join(", ", Measurements.Tests));
                }
                foreach (var tally in tallies)
                {
                    var row = tally.Row(test);
                    rows[(tally.Path, test)] = row;
                    Console.Error.WriteLine(Report.Describe(row) + string.Create(CultureInfo.InvariantCulture,
                        $" ({blocks} interleaved blocks; host steal time over the test, all paths: {StealTime.Now().PercentSince(steal)}; client gen0 GCs, all paths: {GC.CollectionCount(0) - collections}{(test == "unary" ? tally.DescribeUnary() : "")})"));
                    if (test == "unary")
                    {
                        ThreadStats.Print(tally.Path, tally.Calls);
                    }
                }
                if (test == "unary")
                {
                    Measurements.WriteSamples(tallies);
                }
            }
        }
        finally
        {
            foreach (var owner in owners)
            {
                owner.Dispose();
            }
        }
        var ordered = new List<PerfRow>();
        foreach (var path in paths)
        {
            foreach (var test in tests)
            {
                ordered.Add(rows[(path, test)]);
            }
        }
        return ordered;
    }

    /// <summary>
    /// Unary calls in chunks of 500 until a chunk takes at most 5 minor page faults in this process (at most 40 chunks):
    /// an IICFast connection's rings are fresh shared memory, and until the first lap of each ring (1 MiB, ~4000-5000
    /// unary calls) every new 4 KiB page costs the writer and the reader a first-touch fault (round 9: ~250-1500 faults
    /// in 6000 calls measured after 2000 warm-up calls, 6 after 20000), a one-time cost of a new connection that a socket's
    /// recycled kernel buffers do not have. The measured calls are then the steady state on every path.
    /// </summary>
    /// <returns>The calls made.</returns>
    private static async Task<int> WarmUntilNoFaultsAsync(GreeterClient client)
    {
        const int Chunk = 500;
        for (var chunk = 0; chunk < 40; chunk++)
        {
            var faults = GrpcPerf.PageFaults.Minor();
            await Measurements.WarmUnaryAsync(client, Chunk, TimeSpan.Zero);
            if (GrpcPerf.PageFaults.Minor() - faults <= 5)
            {
                return (chunk + 1) * Chunk;
            }
        }
        return 40 * Chunk;
    }

    /// <summary>
    /// Splits <paramref name="total"/> into <paramref name="blocks"/> near-equal blocks per path and runs them in turns,
    /// the first path of each turn rotating.
    /// </summary>
    private static async Task InTurnsAsync(int paths, int blocks, int total, Func<int, int, Task> measure)
    {
        for (var b = 0; b < blocks; b++)
        {
            var count = total / blocks + (b < total % blocks ? 1 : 0);
            if (count == 0)
            {
                continue;
            }
            for (var k = 0; k < paths; k++)
            {
                await measure((b + k) % paths, count);
            }
        }
    }
}

/// <summary>One path's measurements for one test summed over blocks: samples, streamed messages and time, and the unary counters.</summary>
internal sealed class Tally(string path)
{
    public string Path { get; } = path;

    public List<double> Samples { get; } = [];

    public List<long> Starts { get; } = [];

    public long Messages { get; set; }

    public double Seconds { get; set; }

    public int Calls => Samples.Count;

    public long JitMethods { get; set; }

    public TimeSpan JitTime { get; set; }

    public long PageFaults { get; set; }

    public long Allocated { get; set; }

    /// <summary>Thread-pool work items this process completed during the measured calls (each is a hop between threads).</summary>
    public long WorkItems { get; set; }

    /// <summary>The merged row: percentiles over every block's samples, or messages over the summed time.</summary>
    public PerfRow Row(string test)
    {
        if (Samples.Count == 0)
        {
            return new PerfRow(Path, test, null, null, Messages / Seconds);
        }
        var row = Measurements.Latency(Path, test, [.. Samples]);
        return Messages > 0 ? row with { MsgsPerS = Messages / Seconds } : row;
    }

    public string DescribeUnary() => string.Create(CultureInfo.InvariantCulture,
        $"; methods JIT-compiled while measuring: {JitMethods}, {JitTime.TotalMilliseconds:0.0} ms; client page faults while measuring: {PageFaults}; client allocated {Allocated / (double)Math.Max(1, Calls):0} B per call; client thread-pool work items per call: {WorkItems / (double)Math.Max(1, Calls):0.00}");

    /// <summary>Times one block: the process-wide counters around it are this path's.</summary>
    public Block Begin() => new(this);

    internal readonly struct Block(Tally tally)
    {
        private readonly long _compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        private readonly TimeSpan _jitTime = System.Runtime.JitInfo.GetCompilationTime();
        private readonly long _faults = GrpcPerf.PageFaults.Minor();
        private readonly long _allocated = GC.GetTotalAllocatedBytes(precise: true);
        private readonly long _workItems = ThreadPool.CompletedWorkItemCount;
        private readonly long _start = Stopwatch.GetTimestamp();

        public void End()
        {
            tally.Seconds += Stopwatch.GetElapsedTime(_start).TotalSeconds;
            tally.JitMethods += System.Runtime.JitInfo.GetCompiledMethodCount() - _compiled;
            tally.JitTime += System.Runtime.JitInfo.GetCompilationTime() - _jitTime;
            tally.PageFaults += GrpcPerf.PageFaults.Minor() - _faults;
            tally.Allocated += GC.GetTotalAllocatedBytes(precise: true) - _allocated;
            tally.WorkItems += ThreadPool.CompletedWorkItemCount - _workItems;
        }
    }
}
