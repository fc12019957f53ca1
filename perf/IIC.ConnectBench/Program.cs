using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

// Connect + first message + close through an embedded hypervisor: one partition offers a service, another connects,
// sends one 64-byte message, the server accepts and receives it, both close. Reports percentiles in microseconds and
// the bytes allocated per cycle by the whole process (client, server and the hypervisor's thread) and gen-0 GCs.
// IIC.ConnectBench timeline [cycles]: the per-step timeline, IICFast beside TCP (Timeline.cs); analyse DIR: of trace files;
// phases [rounds]: the window's steps, the hypervisor's mapped way against round 14's held way (WindowPhases.cs).
switch (args.FirstOrDefault())
{
    case "timeline":
        return IIC.ConnectBench.Timeline.Run(args);
    case "traced":
        return IIC.ConnectBench.Timeline.Traced(args);
    case "unmap-batch":
        return IIC.ConnectBench.UnmapBatch.Run(args);
    case "phases":
        return IIC.ConnectBench.WindowPhases.Run(args);
    case "analyse":
        IIC.ConnectBench.Timeline.Analyse(args[1]);
        return 0;
}
var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2000;
// IIC_BENCH_RING: the rings' capacity (default 64 KiB, as before; 1048576 is the default window's, the hypervisor pool's size).
var ring = int.TryParse(Environment.GetEnvironmentVariable("IIC_BENCH_RING"), CultureInfo.InvariantCulture, out var r) ? r : 64 * 1024;
var directory = Directory.CreateTempSubdirectory("iic-bench-").FullName;
var name = "bench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
using var hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = directory });
using var server = Partition.Attach(name, "server", directory);
using var client = Partition.Attach(name, "client", directory);
using var listener = IicListener.Listen(server, "bench");
var message = new byte[64];
var buffer = new byte[64];
var samples = new double[rounds];
long allocatedBefore = 0;
long connectAllocated = 0; // by the connecting thread inside IicChannel.Connect alone (the partition side of the request)
var collectionsBefore = 0;
Dictionary<string, long> sleepsBefore = [];
Dictionary<string, long> cpuBefore = [];
for (var i = -200; i < rounds; i++) // 200 warm-up rounds
{
    if (i == 0)
    {
        allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        collectionsBefore = GC.CollectionCount(0);
        sleepsBefore = IIC.ConnectBench.Timeline.ThreadSleeps();
        cpuBefore = IIC.ConnectBench.Timeline.ThreadCpuNs();
    }
    var start = Stopwatch.GetTimestamp();
    var threadBefore = GC.GetAllocatedBytesForCurrentThread();
    var connected = IicChannel.Connect(client, "bench", new ChannelOptions { RingCapacity = ring });
    if (i >= 0)
    {
        connectAllocated += GC.GetAllocatedBytesForCurrentThread() - threadBefore;
    }
    using (var channel = connected)
    {
        channel.Send(message);
        using var accepted = listener.Accept(TimeSpan.FromSeconds(10));
        if (accepted.Receive(buffer) != message.Length)
        {
            throw new InvalidOperationException("short message");
        }
    }
    if (i >= 0)
    {
        samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }
}
var sleepsAfter = IIC.ConnectBench.Timeline.ThreadSleeps();
var cpuAfter = IIC.ConnectBench.Timeline.ThreadCpuNs();
var allocatedPerCycle = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)rounds;
var collections = GC.CollectionCount(0) - collectionsBefore;
Array.Sort(samples);
double P(double q) => samples[Math.Min(rounds - 1, (int)(q * rounds))];
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"connect + first message + close, {rounds} rounds, {ring / 1024} KiB rings: p50 {P(0.5):0.0} us, p90 {P(0.9):0.0} us, p99 {P(0.99):0.0} us, max {samples[^1]:0.0} us; {allocatedPerCycle:0} B allocated per cycle ({connectAllocated / (double)rounds:0} B of them by the connecting thread in Connect), {collections} gen-0 GCs"));
// Sleeps (voluntary context switches) per cycle of each thread that slept: the kernel wake-ups a cycle costs.
foreach (var (thread, after) in sleepsAfter.OrderBy(t => t.Key, StringComparer.Ordinal))
{
    var perCycle = (after - sleepsBefore.GetValueOrDefault(thread)) / (double)rounds;
    if (perCycle >= 0.01)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  sleeps per cycle: {perCycle,6:0.00}  {thread}"));
    }
}
// CPU time per cycle of each thread (schedstat): where the cycle's work, background work included, runs.
foreach (var (thread, after) in cpuAfter.OrderBy(t => t.Key, StringComparer.Ordinal))
{
    var perCycle = (after - cpuBefore.GetValueOrDefault(thread)) / 1000.0 / rounds;
    if (perCycle >= 0.1)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  cpu µs per cycle: {perCycle,7:0.0}  {thread}"));
    }
}
Directory.Delete(directory, recursive: true);
return 0;
