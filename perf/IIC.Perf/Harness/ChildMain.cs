using System.Collections.Concurrent;
using System.Text.Json;
using IIC.Perf.Core;
using IIC.Perf.Transports;

namespace IIC.Perf.Harness;

/// <summary>
/// The child process: <c>IIC.Perf __child {spec}</c>. It joins the parent's session, serves (echo or receiver) or
/// measures (a client that cannot run in the parent), prints its report on standard output, and exits when the
/// parent closes its standard input. If the parent dies first, end-of-input ends the child too.
/// <para><c>IIC.Perf __child --reuse</c> (<see cref="ReuseArgument"/>) is the same child kept for many rows
/// (<see cref="ChildPool"/>): it reads one spec per line on standard input and runs them in turn, a report after
/// each, until its input ends. A failed row ends it (exit code 1), so a reused child never carries a broken state
/// into the next row.</para>
/// </summary>
internal static class ChildMain
{
    public const string Verb = "__child";

    /// <summary>The argument that starts a reusable child: specs then arrive one per line on standard input.</summary>
    public const string ReuseArgument = "--reuse";

    private static readonly TimeSpan s_exitWait = TimeSpan.FromSeconds(30);
    private static volatile bool s_done;
    private static volatile bool s_busy;

    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine($"usage: IIC.Perf {Verb} <json spec> (started by the harness, not by hand)");
            return 2;
        }
        if (args[1] == ReuseArgument)
        {
            return RunReused();
        }
        var spec = JsonSerializer.Deserialize(args[1], PerfJson.Default.ChildSpec) ?? throw new JsonException("null spec");
        var parentGone = new ManualResetEventSlim();
        var watchdog = new Thread(() => WatchParent(parentGone)) { IsBackground = true, Name = "parent watchdog" };
        watchdog.Start();
        try
        {
            var report = RunOne(spec, TransportRegistry.Create());
            s_done = true; // before the report: the parent closes our input as soon as it has read it
            WriteReport(report);
            parentGone.Wait(s_exitWait);
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{spec.Role.ToString().ToLowerInvariant()} child ({spec.Transport}) failed: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    /// <summary>One row: join the session, serve or measure, leave it (its endpoint, channels and partition disposed).</summary>
    /// <param name="spec">The row.</param>
    /// <param name="transports">The transports to find the row's in.</param>
    /// <param name="sayJoined">Print <see cref="ChildReport.JoinedLine"/> once joined (a reused child: the parent waits for it before it closes descriptors this child opened through /proc).</param>
    private static ChildReport RunOne(ChildSpec spec, IReadOnlyList<IBenchTransport> transports, bool sayJoined = false)
    {
        if (spec.Cpu >= 0)
        {
            CpuPinning.PinMainThread(spec.Cpu);
        }
        var transport = TransportRegistry.Find(transports, spec.Transport) ?? throw new ArgumentException($"Unknown transport '{spec.Transport}'.");
        var guard = new RunGuard(TimeSpan.FromSeconds(spec.TimeoutS), CancellationToken.None);
        using var endpoint = transport.Join(spec.Role, spec.Link, spec.Arguments, guard);
        if (sayJoined)
        {
            Console.Out.WriteLine(ChildReport.JoinedLine);
            Console.Out.Flush();
        }
        return spec.Role == LinkRole.Server
            ? new ChildReport(Serve(endpoint, spec.Link), null)
            : new ChildReport(null, Measure(endpoint, spec.Link, spec.Driver));
    }

    private static void WriteReport(ChildReport report)
    {
        Console.Out.WriteLine(ChildReport.LinePrefix + JsonSerializer.Serialize(report, PerfJson.Default.ChildReport));
        Console.Out.Flush();
    }

    /// <summary>
    /// The reused child: specs arrive one per line; each row runs as a fresh child's would (its own join, guard and
    /// endpoints), then the child collects its garbage (so a large row's buffers are not collected in the middle of
    /// the next row) and reports. The parent sends the next spec only after it has the report.
    /// </summary>
    private static int RunReused()
    {
        var transports = TransportRegistry.Create(); // the child only joins: no transport here holds anything to dispose
        using var specs = new BlockingCollection<string>();
        var reader = new Thread(() => ReadSpecs(specs)) { IsBackground = true, Name = "spec reader" };
        reader.Start();
        foreach (var line in specs.GetConsumingEnumerable())
        {
            ChildSpec? spec = null;
            s_busy = true;
            try
            {
                spec = JsonSerializer.Deserialize(line, PerfJson.Default.ChildSpec) ?? throw new JsonException("null spec");
                var jitBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
                var gcBefore = GC.CollectionCount(0);
                var report = RunOne(spec, transports, sayJoined: true);
                var jitted = System.Runtime.JitInfo.GetCompiledMethodCount() - jitBefore;
                var collections = GC.CollectionCount(0) - gcBefore;
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                if (PhaseTrace.Enabled)
                {
                    Console.Error.WriteLine($"reused child {Environment.ProcessId}: {ThreadCount()} threads, {DescriptorCount()} open descriptors, {GC.GetTotalMemory(false) >> 10} KiB managed heap after {spec.Link.Test.ToName()} {spec.Transport} {spec.Link.Mode} {spec.Link.Api.ToName()} {spec.Link.MessageSize} B; the row JIT-compiled {jitted} methods and ran {collections} gen0 GCs");
                }
                s_busy = false; // before the report: the parent may close our input as soon as it has read it
                WriteReport(report);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"{spec?.Role.ToString().ToLowerInvariant() ?? "reused"} child ({spec?.Transport ?? "?"}) failed: {e.GetType().Name}: {e.Message}");
                return 1;
            }
        }
        return 0;
    }

    /// <summary>Reads specs until the parent closes our input; its end in the middle of a row means the parent is gone.</summary>
    private static void ReadSpecs(BlockingCollection<string> specs)
    {
        try
        {
            using var input = new StreamReader(Console.OpenStandardInput());
            while (input.ReadLine() is { } line)
            {
                if (line.Length > 0)
                {
                    specs.Add(line);
                }
            }
        }
        catch (IOException)
        {
            // treated as end of input
        }
        specs.CompleteAdding();
        if (s_busy)
        {
            Console.Error.WriteLine("The parent process went away; exiting.");
            Environment.Exit(3);
        }
    }

    // A reused child that opened a row's memfd or pipe ends through /proc must hold none of them after the row.
    private static int DescriptorCount()
    {
        try
        {
            return Directory.GetFileSystemEntries("/proc/self/fd").Length;
        }
        catch (IOException)
        {
            return -1;
        }
    }

    private static int ThreadCount()
    {
        try
        {
            return Directory.GetDirectories("/proc/self/task").Length;
        }
        catch (IOException)
        {
            return -1;
        }
    }

    private static Results.ServerReport Serve(IMessageEndpoint endpoint, LinkOptions link) => link.Test.IsOneWay()
        ? SinkServer.Run(endpoint, link)
        : EchoServer.Run(endpoint, link);

    private static Results.ClientMeasurement Measure(IMessageEndpoint endpoint, LinkOptions link, DriverSettings driver) => link.Test.IsOneWay()
        ? ThroughputClient.Run(endpoint, link, driver)
        : PingPongClient.Run(endpoint, link, driver);

    /// <summary>Blocks on standard input; its end means the parent is done with us, or dead.</summary>
    private static void WatchParent(ManualResetEventSlim parentGone)
    {
        using var input = Console.OpenStandardInput();
        var buffer = new byte[64];
        try
        {
            while (input.Read(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
            // treated as end of input
        }
        parentGone.Set();
        if (!s_done)
        {
            Console.Error.WriteLine("The parent process went away; exiting.");
            Environment.Exit(3);
        }
    }
}
