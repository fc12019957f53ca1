using System.Text.Json;
using IIC.Perf.Core;
using IIC.Perf.Transports;

namespace IIC.Perf.Harness;

/// <summary>
/// The child process: <c>IIC.Perf __child {spec}</c>. It joins the parent's session, serves (echo or receiver) or
/// measures (a client that cannot run in the parent), prints its report on standard output, and exits when the
/// parent closes its standard input. If the parent dies first, end-of-input ends the child too.
/// </summary>
internal static class ChildMain
{
    public const string Verb = "__child";
    private static readonly TimeSpan s_exitWait = TimeSpan.FromSeconds(30);
    private static volatile bool s_done;

    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine($"usage: IIC.Perf {Verb} <json spec> (started by the harness, not by hand)");
            return 2;
        }
        var spec = JsonSerializer.Deserialize(args[1], PerfJson.Default.ChildSpec) ?? throw new JsonException("null spec");
        var parentGone = new ManualResetEventSlim();
        var watchdog = new Thread(() => WatchParent(parentGone)) { IsBackground = true, Name = "parent watchdog" };
        watchdog.Start();
        try
        {
            if (spec.Cpu >= 0)
            {
                CpuPinning.PinMainThread(spec.Cpu);
            }
            var transports = TransportRegistry.Create();
            var transport = TransportRegistry.Find(transports, spec.Transport) ?? throw new ArgumentException($"Unknown transport '{spec.Transport}'.");
            var guard = new RunGuard(TimeSpan.FromSeconds(spec.TimeoutS), CancellationToken.None);
            ChildReport report;
            using (var endpoint = transport.Join(spec.Role, spec.Link, spec.Arguments, guard))
            {
                report = spec.Role == LinkRole.Server
                    ? new ChildReport(Serve(endpoint, spec.Link), null)
                    : new ChildReport(null, Measure(endpoint, spec.Link, spec.Driver));
            }
            s_done = true; // before the report: the parent closes our input as soon as it has read it
            Console.Out.WriteLine(ChildReport.LinePrefix + JsonSerializer.Serialize(report, PerfJson.Default.ChildReport));
            Console.Out.Flush();
            parentGone.Wait(s_exitWait);
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{spec.Role.ToString().ToLowerInvariant()} child ({spec.Transport}) failed: {e.GetType().Name}: {e.Message}");
            return 1;
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
