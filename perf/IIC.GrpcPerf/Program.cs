// gRPC over IICFast vs TCP loopback vs Unix domain sockets, one run, two processes: this process is the client; it
// starts itself again as the server ("serve"), whose one Kestrel serves the stock greeter on all three endpoints.
// Per round and transport: unary round-trip latency (p50/p99/mean over --calls sequential calls after --warmup) and
// server-streaming throughput (--stream replies of --payload bytes). Rounds interleave the transports so a noisy
// neighbour hits all of them alike; the table prints each round and the TCP/IICFast p50 ratio side by side.
//   dotnet run -c Release --project perf/IIC.GrpcPerf -- [--rounds 3] [--calls 5000] [--warmup 1000] [--stream 20000] [--payload 4096] [--wait adaptive|park|spinpark:µs|spin] [--inline]
using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using IIC.GrpcPerf;

if (args.Length > 0 && args[0] == "serve")
{
    await PerfServer.RunAsync(args[1], args[2], args[3], args[4] == "inline", args[5]);
    return 0;
}

int Option(string name, int value)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : value;
}
var rounds = Option("--rounds", 3);
var calls = Option("--calls", 5000);
var warmup = Option("--warmup", 1000);
var streamCount = Option("--stream", 20000);
var payload = Option("--payload", 4096);
var inline = args.Contains("--inline");
var waitAt = Array.IndexOf(args, "--wait");
var wait = waitAt >= 0 && waitAt + 1 < args.Length ? args[waitAt + 1] : "park";

var hypervisor = "grpcperf-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
var directory = Directory.CreateTempSubdirectory("iic-grpcperf-").FullName;
var unixSocket = Path.Combine(directory, "greeter.sock");
var self = typeof(Measurements).Assembly.Location;
var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
{
    info.ArgumentList.Add(self);
}
foreach (var a in new[] { "serve", hypervisor, directory, unixSocket, inline ? "inline" : "pool", wait })
{
    info.ArgumentList.Add(a);
}
using var server = Process.Start(info)!;
Uri? tcp = null;
var echoPort = 0;
while (server.StandardOutput.ReadLine() is { } line && line != "ready")
{
    if (line.StartsWith("listening http://127.0.0.1:", StringComparison.Ordinal))
    {
        tcp = new Uri(line["listening ".Length..]);
    }
    else if (line.StartsWith("echo ", StringComparison.Ordinal))
    {
        echoPort = int.Parse(line["echo ".Length..], CultureInfo.InvariantCulture);
    }
}
if (tcp is null)
{
    Console.Error.WriteLine("The server did not start.");
    server.Kill();
    return 1;
}

var transports = new (string Name, Func<(Uri Address, HttpMessageHandler Handler)> Create)[]
{
    ("IICFast", () => Transports.Iic(hypervisor, directory, wait)),
    ("TCP loopback", () => Transports.Tcp(tcp)),
    ("Unix socket", () => Transports.Unix(unixSocket)),
};
var results = new List<RoundResult>();
var raw = new List<(int Round, string Transport, double P50, double P99)>();
var rawOptions = IIC.AspNetCore.IicTransportOptions.DefaultChannelOptions with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(wait) };
try
{
    for (var round = 1; round <= rounds; round++)
    {
        foreach (var (name, create) in transports)
        {
            var (address, handler) = create();
            using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler });
            var client = new Greeter.Greeter.GreeterClient(channel);
            var latencies = await Measurements.UnaryAsync(client, warmup, calls);
            await Measurements.StreamAsync(client, Math.Max(100, streamCount / 10), payload); // warm the streaming path
            var (mbps, msgs) = await Measurements.StreamAsync(client, streamCount, payload);
            var result = new RoundResult(name, round, Measurements.Percentile(latencies, 0.50), Measurements.Percentile(latencies, 0.99), latencies.Average(), mbps, msgs);
            results.Add(result);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} {name}: p50 {result.P50Us:0.0} µs, p99 {result.P99Us:0.0} µs, stream {mbps:0} MB/s"));
        }
        foreach (var (name, connect) in new (string, Func<Task<Stream>>)[] { ("IICFast", () => RawEcho.ConnectIicAsync(hypervisor, directory, rawOptions)), ("TCP loopback", () => RawEcho.ConnectTcpAsync(echoPort)) })
        {
            await using var stream = await connect();
            var samples = await RawEcho.RoundTripsAsync(stream, warmup, calls);
            raw.Add((round, name, Measurements.Percentile(samples, 0.5), Measurements.Percentile(samples, 0.99)));
        }
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

static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
var cpu = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
var kernel = Read("/proc/sys/kernel/osrelease").Trim();
var load = Read("/proc/loadavg").Trim();
var inv = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(inv, $"Machine: {Environment.ProcessorCount} CPUs (nproc), {cpu}, Linux {kernel}, .NET {Environment.Version}; load average at the end: {load}."));
Console.WriteLine(string.Create(inv, $"Unary: {calls} sequential SayHello calls after {warmup} warm-up; streaming: one SayHellos stream of {streamCount} replies with {payload} B payload. IICFast wait strategy: {wait}; server scheduling: {(inline ? "inline" : "thread pool")}."));
Console.WriteLine();
Console.WriteLine("| round | transport | unary p50 µs | unary p99 µs | unary mean µs | stream MB/s | stream msg/s | TCP p50 / this p50 |");
Console.WriteLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
foreach (var r in results)
{
    var tcpP50 = results.First(x => x.Round == r.Round && x.Transport == "TCP loopback").P50Us;
    Console.WriteLine(string.Create(inv, $"| {r.Round} | {r.Transport} | {r.P50Us:0.0} | {r.P99Us:0.0} | {r.MeanUs:0.0} | {r.StreamMBps:0} | {r.StreamMsgsPerSec:0} | {tcpP50 / r.P50Us:0.00}x |"));
}
Console.WriteLine();
Console.WriteLine("Transport floor: 32 B async round trips over the bare stream (Stream.WriteAsync + ReadAsync, no HTTP/2, no gRPC), same processes:");
Console.WriteLine();
Console.WriteLine("| round | transport | raw p50 µs | raw p99 µs | gRPC unary p50 µs | HTTP/2 + gRPC share of p50 |");
Console.WriteLine("| ---: | --- | ---: | ---: | ---: | ---: |");
foreach (var r in raw)
{
    var grpc = results.First(x => x.Round == r.Round && x.Transport == r.Transport).P50Us;
    Console.WriteLine(string.Create(inv, $"| {r.Round} | {r.Transport} | {r.P50:0.0} | {r.P99:0.0} | {grpc:0.0} | {(grpc - r.P50) / grpc:P0} |"));
}
return 0;
