using System.Diagnostics;
using Google.Protobuf;
using Greeter;
using Grpc.Core;

namespace IIC.GrpcPerf;

/// <summary>One row of the results: a path and a test; latency in ns for latency tests, messages/s for streaming.</summary>
internal sealed record PerfRow(string Path, string Test, double? P50Ns, double? P99Ns, double? MsgsPerS);

/// <summary>The four tests, made the same way over every path. 32-byte payloads throughout.</summary>
internal static class Measurements
{
    public static readonly string[] Tests = ["unary", "unary-idle", "server-stream", "bidi-pingpong"];

    private static readonly ByteString s_payload = ByteString.CopyFrom(new byte[32]);

    /// <summary>
    /// The least time unary and bidi calls run before they are measured (besides the warm-up count): the first
    /// ~50 ms after a connection opens carry start-up transients that set a 5000-call p99 (perf/RESULTS.md, "grpc").
    /// </summary>
    public static TimeSpan WarmupTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A unary call slower than this is counted on its own (the native p99 target is 20 µs).</summary>
    private const double SlowCallNs = 20_000;

    /// <summary>Unary calls back to back (the receivers stay warm).</summary>
    public static async Task<PerfRow> UnaryAsync(string path, Greeter.Greeter.GreeterClient client, int warmup, int calls)
    {
        await WarmUnaryAsync(client, warmup);
        ThreadStats.Warm();
        var tally = new Tally(path);
        var counters = TransportCounters.Read();
        await UnaryBlockAsync(client, calls, tally);
        var waits = TransportCounters.Read() - counters;
        var slow = tally.Samples.Count(static s => s > SlowCallNs);
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{path} unary: {slow} of {calls} calls over {SlowCallNs / 1000:0} µs; {waits.Describe(calls)}"));
        ThreadStats.Print(path, calls);
        LastJit = (tally.JitMethods, tally.JitTime);
        LastPageFaults = tally.PageFaults;
        LastAllocatedPerCall = tally.Allocated / (double)calls;
        WriteSamples([tally]);
        return tally.Row("unary");
    }

    /// <summary><paramref name="warmup"/> unary calls, and for at least <paramref name="least"/> (default <see cref="WarmupTime"/>).</summary>
    public static async Task WarmUnaryAsync(Greeter.Greeter.GreeterClient client, int warmup, TimeSpan? least = null)
    {
        var request = new HelloRequest { Name = "perf", Payload = s_payload };
        var time = least ?? WarmupTime;
        var begin = Stopwatch.GetTimestamp();
        for (var i = 0; i < warmup || Stopwatch.GetElapsedTime(begin) < time; i++)
        {
            await client.SayHelloAsync(request);
        }
    }

    /// <summary>
    /// <paramref name="calls"/> measured unary calls into <paramref name="tally"/>, with the JIT, page-fault and allocation
    /// counters and <c>--thread-stats</c> around them (the snapshots themselves outside the counted span).
    /// </summary>
    public static async Task UnaryBlockAsync(Greeter.Greeter.GreeterClient client, int calls, Tally tally)
    {
        var request = new HelloRequest { Name = "perf", Payload = s_payload };
        tally.Samples.EnsureCapacity(tally.Samples.Count + calls); // no list growth inside the counted span
        tally.Starts.EnsureCapacity(tally.Starts.Count + calls);
        ThreadStats.Begin();
        AllocationTypes.Client?.Start();
        var block = tally.Begin();
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await client.SayHelloAsync(request);
            tally.Samples.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds);
            tally.Starts.Add(start);
        }
        block.End();
        ThreadStats.End(tally.Path, calls);
        AllocationTypes.Client?.Print($"client ({tally.Path} unary)");
    }

    /// <summary><paramref name="calls"/> unary calls, each after <paramref name="gap"/> idle, into <paramref name="tally"/>.</summary>
    public static async Task UnaryIdleBlockAsync(Greeter.Greeter.GreeterClient client, int calls, TimeSpan gap, Tally tally)
    {
        var request = new HelloRequest { Name = "perf", Payload = s_payload };
        tally.Samples.EnsureCapacity(tally.Samples.Count + calls);
        for (var i = 0; i < calls; i++)
        {
            Thread.Sleep(gap);
            var start = Stopwatch.GetTimestamp();
            await client.SayHelloAsync(request);
            tally.Samples.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds);
        }
    }

    /// <summary>One server stream of <paramref name="count"/> replies into <paramref name="tally"/> (messages and time).</summary>
    public static async Task ServerStreamBlockAsync(Greeter.Greeter.GreeterClient client, int count, Tally tally)
    {
        var start = Stopwatch.GetTimestamp();
        await StreamOnceAsync(client, count);
        tally.Seconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
        tally.Messages += count;
    }

    /// <summary>A bidirectional ping-pong kept open across blocks (the interleaved HTTP/2 measurement).</summary>
    internal sealed class Chat : IDisposable
    {
        private readonly AsyncDuplexStreamingCall<HelloRequest, HelloReply> _call;
        private readonly HelloRequest _request = new() { Name = "p", Payload = s_payload };

        private Chat(AsyncDuplexStreamingCall<HelloRequest, HelloReply> call) => _call = call;

        /// <summary>Opens the chat and warms it: <paramref name="warmup"/> exchanges and at least <see cref="WarmupTime"/>.</summary>
        public static async Task<Chat> OpenAsync(Greeter.Greeter.GreeterClient client, int warmup)
        {
            var chat = new Chat(client.Chat());
            var begin = Stopwatch.GetTimestamp();
            for (var i = 0; i < warmup || Stopwatch.GetElapsedTime(begin) < WarmupTime; i++)
            {
                await chat.ExchangeAsync();
            }
            return chat;
        }

        /// <summary><paramref name="exchanges"/> measured exchanges into <paramref name="tally"/> (latency each, and exchanges over time).</summary>
        public async Task BlockAsync(int exchanges, Tally tally)
        {
            tally.Samples.EnsureCapacity(tally.Samples.Count + exchanges);
            var total = Stopwatch.GetTimestamp();
            for (var i = 0; i < exchanges; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await ExchangeAsync();
                tally.Samples.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds);
            }
            tally.Seconds += Stopwatch.GetElapsedTime(total).TotalSeconds;
            tally.Messages += exchanges;
        }

        /// <summary>Ends the request stream and drains the replies.</summary>
        public async Task CloseAsync()
        {
            await _call.RequestStream.CompleteAsync();
            while (await _call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }

        public void Dispose() => _call.Dispose();

        private async Task ExchangeAsync()
        {
            await _call.RequestStream.WriteAsync(_request);
            if (!await _call.ResponseStream.MoveNext(CancellationToken.None))
            {
                throw new InvalidOperationException("The chat ended early.");
            }
        }
    }

    /// <summary>Unary calls after idle gaps long enough for every receiver to fall asleep.</summary>
    public static async Task<PerfRow> UnaryIdleAsync(string path, Greeter.Greeter.GreeterClient client, int calls, TimeSpan gap)
    {
        var request = new HelloRequest { Name = "perf", Payload = s_payload };
        await client.SayHelloAsync(request);
        var samples = new double[calls];
        // Deterministic companions of the latency (snapshots outside the loop): the client's transport counters (its
        // reader's parks, its doorbell wakes of the server), the client's thread-pool work items, and with
        // --thread-stats every thread's sleeps (voluntary switches) in both processes, per call.
        ThreadStats.Warm();
        var counters = TransportCounters.Read();
        var workItems = ThreadPool.CompletedWorkItemCount;
        ThreadStats.Begin();
        for (var i = 0; i < calls; i++)
        {
            Thread.Sleep(gap);
            var start = Stopwatch.GetTimestamp();
            IIC.Grpc.Protocol.CallTrace.Mark(IIC.Grpc.Protocol.CallTrace.Step.ClientBegin); // IIC_GRPC_TRACE=DIR: the per-step timeline (calltrace.py)
            await client.SayHelloAsync(request);
            IIC.Grpc.Protocol.CallTrace.Mark(IIC.Grpc.Protocol.CallTrace.Step.ClientEnd);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        }
        ThreadStats.End(path, calls);
        workItems = ThreadPool.CompletedWorkItemCount - workItems;
        var waits = TransportCounters.Read() - counters;
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{path} unary-idle: {waits.Describe(calls)}; client thread-pool work items {workItems / (double)calls:0.00} per call"));
        ThreadStats.Print(path, "unary-idle", calls);
        return Latency(path, "unary-idle", samples);
    }

    /// <summary>One server stream of <paramref name="count"/> replies (after a warm-up stream): messages/s.</summary>
    public static async Task<PerfRow> ServerStreamAsync(string path, Greeter.Greeter.GreeterClient client, int count)
    {
        await StreamOnceAsync(client, Math.Max(100, count / 10));
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var start = Stopwatch.GetTimestamp();
        var waits = await StreamOnceAsync(client, count);
        var rate = count / Stopwatch.GetElapsedTime(start).TotalSeconds;
        // Deterministic companions of the rate: how often the reader found no message ready (each such MoveNext returns
        // an incomplete task: one wake-up of the reading code), and what the client allocated per message.
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{path} server-stream: {count} messages, {waits} MoveNext waits ({count / (double)Math.Max(1, waits):0.0} messages per wait), client allocated {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)count:0.0} B per message"));
        return new PerfRow(path, "server-stream", null, null, rate);
    }

    /// <summary>Reads one stream of <paramref name="count"/> replies; returns how many MoveNext calls had to wait.</summary>
    internal static async Task<int> StreamOnceAsync(Greeter.Greeter.GreeterClient client, int count)
    {
        using var call = client.SayHellos(new HelloRequest { Name = "s", Count = count, Payload = s_payload });
        var received = 0;
        var waits = 0;
        while (true)
        {
            var next = call.ResponseStream.MoveNext(CancellationToken.None);
            if (!next.IsCompleted)
            {
                waits++;
            }
            if (!await next)
            {
                break;
            }
            received++;
        }
        if (received != count)
        {
            throw new InvalidOperationException($"The stream ended after {received} of {count} replies.");
        }
        return waits;
    }

    /// <summary>Ping-pong on one bidirectional stream: latency of each exchange, and exchanges/s.</summary>
    public static async Task<PerfRow> BidiPingPongAsync(string path, Greeter.Greeter.GreeterClient client, int warmup, int exchanges)
    {
        using var call = client.Chat();
        var request = new HelloRequest { Name = "p", Payload = s_payload };
        var samples = new double[exchanges];
        var begin = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(begin) < WarmupTime)
        {
            await call.RequestStream.WriteAsync(request);
            if (!await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                throw new InvalidOperationException("The chat ended early.");
            }
        }
        var total = Stopwatch.GetTimestamp();
        var allocated = 0L;
        for (var i = -warmup; i < exchanges; i++)
        {
            if (i == 0)
            {
                total = Stopwatch.GetTimestamp();
                allocated = GC.GetTotalAllocatedBytes(precise: true);
            }
            var start = Stopwatch.GetTimestamp();
            await call.RequestStream.WriteAsync(request);
            if (!await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                throw new InvalidOperationException("The chat ended early.");
            }
            if (i >= 0)
            {
                samples[i] = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
            }
        }
        var seconds = Stopwatch.GetElapsedTime(total).TotalSeconds;
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{path} bidi-pingpong: client allocated {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)exchanges:0.0} B per exchange"));
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
        }
        var row = Latency(path, "bidi-pingpong", samples);
        return row with { MsgsPerS = exchanges / seconds };
    }

    /// <summary>Methods this process JIT-compiled (tier-up included) during the last measured unary calls, and the time it took.</summary>
    public static (long Methods, TimeSpan Time) LastJit { get; private set; }

    /// <summary>Minor page faults this process took during the last measured unary calls (first touches of fresh heap memory).</summary>
    public static long LastPageFaults { get; private set; }

    /// <summary>Bytes this process allocated per measured unary call (the last run).</summary>
    public static double LastAllocatedPerCall { get; private set; }

    /// <summary>Where <c>--samples DIR</c> writes each call's start (ns since the first) and latency, in call order (null: not written).</summary>
    public static string? SamplesDirectory { get; set; }

    /// <summary>Writes the unary samples of each tally, unsorted, as "start_ns latency_ns" lines (interleaved blocks keep their gaps): when the slow calls come (periodic? clustered?) tells their cause.</summary>
    internal static void WriteSamples(IReadOnlyList<Tally> tallies)
    {
        if (SamplesDirectory is null)
        {
            return;
        }
        Directory.CreateDirectory(SamplesDirectory);
        foreach (var tally in tallies)
        {
            if (tally.Starts.Count == 0)
            {
                continue;
            }
            using var file = new StreamWriter(Path.Combine(SamplesDirectory, $"{tally.Path}-unary.txt"));
            var starts = tally.Starts;
            // The first call's start on the Stopwatch clock (CLOCK_MONOTONIC on Linux): lines the samples up with
            // `perf record -k mono` traces of the same run.
            file.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"# t0 {starts[0] * 1e9 / Stopwatch.Frequency:0} ns (Stopwatch clock); then: start_ns latency_ns"));
            for (var i = 0; i < starts.Count; i++)
            {
                file.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{(starts[i] - starts[0]) * 1e9 / Stopwatch.Frequency:0} {tally.Samples[i]:0}"));
            }
        }
    }

    internal static PerfRow Latency(string path, string test, double[] samples)
    {
        Array.Sort(samples);
        return new PerfRow(path, test, Percentile(samples, 0.50), Percentile(samples, 0.99), null);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
