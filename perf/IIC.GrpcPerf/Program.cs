// gRPC over four paths in one run, two processes: this process is the client; it starts itself again as the server
// ("serve"): the stock greeter natively over IICFast (IIC.Grpc, no HTTP/2) and through Kestrel over HTTP/2 on IICFast,
// TCP loopback and a Unix socket. Per path: unary (back to back), unary-idle (after gaps that put receivers to sleep),
// server-stream (messages/s) and bidi-pingpong, 32 B payloads; with unary-idle also the raw-futex row: a plain futex
// ping-pong between the two processes after the same gaps (the floor unary-idle is compared with). The default run
// measures all of them in about a minute.
//   dotnet run -c Release --project perf/IIC.GrpcPerf -- [--json FILE] [--chart FILE] [--paths a,b] [--tests x,y]
//        [--calls 5000] [--warmup 2000] [--warmup-ms 1000] [--idle-calls 200] [--idle-gap-ms 5] [--stream 200000] [--wait park|adaptive|...] [--inline]
//        [--reply-spin US] [--client-inline] [--inline-http2 [client|server|both]]   the http2-iic pipes' spin-for-reply limit, the client's inline
//                          scheduling, and HTTP/2 reads inline on the receive thread (IicPipeOptions.InlineHttp2Reads on) on the side named (default both)
//        [--native-pool]   run native handlers and completions on the thread pool instead of inline on the reader threads
//        [--native-wait adaptive|park|spin|spinpark:US]   the native path's wait strategy on both sides (default adaptive)
//        [--thread-stats]   per unary call and thread kind in both processes: CPU, run-queue wait, voluntary/involuntary switches
//        [--blocks N]   the HTTP/2 paths measured in N interleaved blocks per test, each path's samples merged (default 5; 1: one path after another)
//        [--heap-warmup]   both processes cycle gen0 a few times before measuring (no first-touch page faults in the calls)
//   dotnet run -c Release --project perf/IIC.GrpcPerf -- --alloc    allocation per unary call (BenchmarkDotNet MemoryDiagnoser)
//   IIC_ALLOC_TYPES=1 ... --paths native-iic --tests unary   which types each process allocates (GCAllocationTick), printed by both
//   IIC_GRPC_TRACE=DIR ... --paths native-iic --tests unary-idle, then python3 perf/IIC.GrpcPerf/calltrace.py DIR
//                     the per-step timeline of an idle native call across both processes (src/IIC.Grpc/Protocol/CallTrace.cs)
using System.Diagnostics;
using System.Globalization;
using IIC.GrpcPerf;

if (args.Length > 0 && args[0] == "serve")
{
    if (Environment.GetEnvironmentVariable(HeapWarmup.Variable) == "1")
    {
        HeapWarmup.Run();
    }
    using var serverTypes = AllocationTypes.FromEnvironment();
    serverTypes?.Start();
    if (args[7] != "-")
    {
        RawFutexPingPong.Serve(args[7]);
    }
    await PerfServer.RunAsync(args[1], args[2], args[3], args[4] == "inline", args[5], args[6] == "native-inline", args[8]);
    serverTypes?.Print("server");
    return 0;
}
if (args.Contains("--alloc"))
{
    BenchmarkDotNet.Running.BenchmarkRunner.Run<UnaryAllocationBenchmarks>(UnaryAllocationBenchmarks.Config(args.Contains("--smoke")));
    return 0;
}

string? Text(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
int Option(string name, int value) => Text(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : value;
var calls = Option("--calls", 5000);
var warmup = Option("--warmup", 2000);
Measurements.WarmupTime = TimeSpan.FromMilliseconds(Option("--warmup-ms", 1000)); // and at least this long (0: the count alone)
var idleCalls = Option("--idle-calls", 200);
var idleGap = TimeSpan.FromMilliseconds(Option("--idle-gap-ms", 5));
var streamCount = Option("--stream", 200_000);
var blocks = Math.Max(1, Option("--blocks", 5)); // the HTTP/2 paths in interleaved blocks (1: one path after the other)
var inline = args.Contains("--inline");
var nativeInline = !args.Contains("--native-pool"); // default: native handlers and completions inline on the reader threads
var nativeWait = Text("--native-wait") ?? "adaptive";
var wait = Text("--wait") ?? "park";
var paths = Text("--paths")?.Split(',') ?? PerfPaths.All;
var tests = Text("--tests")?.Split(',') ?? Measurements.Tests;
var json = Text("--json");
Measurements.SamplesDirectory = Text("--samples"); // each call's start and latency, for where the tail comes from
ThreadStats.Enabled = args.Contains("--thread-stats"); // per call and thread kind, both processes: CPU, run-queue wait, sleeps
Http2IicSetup.FromArguments(args); // --reply-spin US, --client-inline: the http2-iic pipes on both sides
var chart = Text("--chart") ?? Path.Combine(IIC.Perf.Cli.OutputPaths.DefaultDirectory(), "grpc-latency.png"); // as the main job: perf/out of the repository

var hypervisor = "grpcperf-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
var directory = Directory.CreateTempSubdirectory("iic-grpcperf-").FullName;
var unixSocket = Path.Combine(directory, "greeter.sock");
var self = typeof(Measurements).Assembly.Location;
var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
if (args.Contains("--heap-warmup"))
{
    // Both processes cycle their gen0 a few times first: the calls then allocate from memory touched before.
    info.Environment[HeapWarmup.Variable] = "1";
    HeapWarmup.Run();
}
if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
{
    info.ArgumentList.Add(self);
}
foreach (var a in new[] { "serve", hypervisor, directory, unixSocket, inline ? "inline" : "pool", wait, nativeInline ? "native-inline" : "native-pool" })
{
    info.ArgumentList.Add(a);
}
// The raw-futex baseline's page: created before the server starts, so the server inherits it.
using var rawFutex = tests.Contains("unary-idle") ? RawFutexPingPong.Create() : null;
info.ArgumentList.Add(rawFutex?.Descriptor ?? "-");
info.ArgumentList.Add(nativeWait);
using var server = Process.Start(info)!;
ThreadStats.ServerPid = server.Id;
Uri? tcp = null;
while (server.StandardOutput.ReadLine() is { } line && line != "ready")
{
    if (line.StartsWith("listening http://127.0.0.1:", StringComparison.Ordinal))
    {
        tcp = new Uri(line["listening ".Length..]);
    }
}
if (tcp is null)
{
    Console.Error.WriteLine("The server did not start.");
    server.Kill();
    return 1;
}

var rows = new List<PerfRow>();
(double WarmMicros, double ColdMicros)? coldProbe = null;
string ColdFactor() => coldProbe is var (w, c)
    ? string.Create(CultureInfo.InvariantCulture, $"cold factor: the same in-process work (serialise and parse the greeter's messages) p50 {w:0.0} µs back to back, {c:0.0} µs after {idleGap.TotalMilliseconds:0} ms idle ({c / w:0.0}x): unary-idle pays this on its work, the raw futex row on almost none.")
    : "";
var watch = Stopwatch.StartNew();
try
{
    if (rawFutex is not null)
    {
        // The parking floor first, with the same gaps as every path's unary-idle: the target compares against it.
        ThreadStats.Warm();
        ThreadStats.Begin();
        var row = rawFutex.Measure(idleCalls, idleGap);
        ThreadStats.End(row.Path, idleCalls);
        ThreadStats.Print(row.Path, "unary-idle", idleCalls); // the floor's sleeps per exchange: the client's gap and pong wait, the server's ping wait
        rows.Add(row);
        Console.Error.WriteLine(Report.Describe(row));
        // The same two wake-ups plus the greeter's message work on both sides, cold: how much of unary-idle's distance
        // from the raw row is the messages' own (de)serialisation after the gap rather than the call path.
        ThreadStats.Begin();
        row = rawFutex.Measure(idleCalls, idleGap, withMessages: true);
        ThreadStats.End(row.Path, idleCalls);
        ThreadStats.Print(row.Path, "unary-idle", idleCalls);
        rows.Add(row);
        Console.Error.WriteLine(Report.Describe(row));
        coldProbe = ColdProbe.Measure(idleGap, Math.Min(idleCalls, 200));
        Console.Error.WriteLine(ColdFactor());
    }
    // The HTTP/2 paths share one HTTP/2 client and one Kestrel: whichever is measured first pays what the process still
    // does once (a method's first compilation, gen0 GCs into fresh heap pages) during its measured calls, and the host's
    // drift over the run favours one or the other (round 8: http2-iic first took 6-52 methods of JIT and ~200-3000 page
    // faults while measured, TCP after it 0 and 1-10). By default they are measured in interleaved blocks (Http2Blocks,
    // --blocks N, default 5), each path's samples merged. --blocks 1 measures them one after the other, as before, each
    // warmed first (as many calls and as long as each path's own warm-up; --warmup-ms 0: no shared warm-up either).
    var http2Paths = paths.Where(p => p.StartsWith("http2-", StringComparison.Ordinal)).ToArray();
    var interleave = http2Paths.Length > 1 && blocks > 1;
    if (http2Paths.Length > 1 && !interleave && Measurements.WarmupTime > TimeSpan.Zero)
    {
        foreach (var path in http2Paths)
        {
            var (invoker, owner) = PerfPaths.Open(path, hypervisor, directory, wait, tcp, unixSocket, nativeInline, nativeWait);
            using (owner)
            {
                await Measurements.WarmUnaryAsync(new Greeter.Greeter.GreeterClient(invoker), warmup);
            }
        }
    }
    foreach (var path in interleave ? paths.Except(http2Paths) : paths)
    {
        var (invoker, owner) = PerfPaths.Open(path, hypervisor, directory, wait, tcp, unixSocket, nativeInline, nativeWait);
        using (owner)
        {
            var client = new Greeter.Greeter.GreeterClient(invoker);
            foreach (var test in tests)
            {
                var probeBefore = PlacementProbe.Measure();
                var collections = GC.CollectionCount(0);
                var steal = StealTime.Now();
                var row = test switch
                {
                    "unary" => await Measurements.UnaryAsync(path, client, warmup, calls),
                    "unary-idle" => await Measurements.UnaryIdleAsync(path, client, idleCalls, idleGap),
                    "server-stream" => await Measurements.ServerStreamAsync(path, client, streamCount),
                    "bidi-pingpong" => await Measurements.BidiPingPongAsync(path, client, warmup / 2, calls),
                    _ => throw new ArgumentOutOfRangeException(nameof(args), test, "Tests: " + string.Join(", ", Measurements.Tests)),
                };
                rows.Add(row);
                var probeAfter = PlacementProbe.Measure();
                // Collections in this process during the test (warm-up included): a gen0 GC stops the client for tens of µs.
                Console.Error.WriteLine(Report.Describe(row) + string.Create(CultureInfo.InvariantCulture, $" (probe {probeBefore}/{probeAfter} ns; host steal time: {StealTime.Now().PercentSince(steal)}; client gen0 GCs: {GC.CollectionCount(0) - collections}{(test == "unary" ? $"; methods JIT-compiled while measuring: {Measurements.LastJit.Methods}, {Measurements.LastJit.Time.TotalMilliseconds:0.0} ms; client page faults while measuring: {Measurements.LastPageFaults}; client allocated {Measurements.LastAllocatedPerCall:0} B per call" : "")})"));
            }
        }
    }
    if (interleave)
    {
        rows.AddRange(await Http2Blocks.RunAsync(http2Paths, tests, blocks,
            path => PerfPaths.Open(path, hypervisor, directory, wait, tcp, unixSocket, nativeInline, nativeWait),
            warmup, calls, idleCalls, idleGap, streamCount));
    }
}
finally
{
    server.StandardInput.Close();
    if (!server.WaitForExit(TimeSpan.FromSeconds(10)))
    {
        server.Kill(entireProcessTree: true);
    }
    Directory.Delete(directory, recursive: true);
}

var machine = Report.Machine();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{machine}; measured in {watch.Elapsed.TotalSeconds:0} s. HTTP/2-over-IICFast wait strategy: {wait}; Kestrel scheduling: {(inline ? "inline" : "thread pool")}; {Http2IicSetup.Describe()}; native path: {nativeWait} waiting, {(nativeInline ? "handlers and completions inline on the reader threads" : "handlers and completions on the thread pool")}."));
Console.WriteLine();
Console.WriteLine(Report.Table(rows));
if (coldProbe is not null)
{
    Console.WriteLine(ColdFactor());
}
if (json is not null)
{
    Report.WriteJson(json, machine, rows);
    Console.WriteLine($"JSON: {json}");
}
if (Report.SaveChart(chart, machine, rows))
{
    Console.WriteLine($"chart: {chart}");
}
return 0;
