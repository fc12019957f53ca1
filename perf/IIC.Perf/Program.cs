using IIC.Perf.Cli;
using IIC.Perf.Harness;
using IIC.Perf.Scale;

namespace IIC.Perf;

/// <summary>
/// <c>dotnet run -c Release --project perf/IIC.Perf [pingpong|throughput|idlegap|list] [options]</c>: latency and
/// throughput between two processes, IICFast beside every baseline. The same program is its own child process
/// (<c>__child</c>), so both sides run the same runtime and code.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return args.Length == 0 ? BenchCommand.Run(args)
            : args[0] == ChildMain.Verb ? ChildMain.Run(args)
            : args[0] == Isolation.NamespacedHypervisor.Verb ? Isolation.NamespacedHypervisor.Run(args)
            : args[0] == PlacementProbe.Verb ? PlacementProbe.RunChild(args)
            : args[0] == FanInBench.Verb ? FanInBench.RunChild(args)
            : args[0] == ConnectBench.Verb ? ConnectBench.RunChild(args)
            : BenchCommand.Run(args);
    }
}
