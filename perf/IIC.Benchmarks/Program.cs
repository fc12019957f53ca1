using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace IIC.Benchmarks;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project perf/IIC.Benchmarks -- --filter '*'</c>.
/// A short job (1 launch, 3 warm-ups, 8 iterations) run in process: no generated project is built, so the run
/// takes a few minutes and respects the caller's --artifacts-path. Every benchmark reports allocations.
/// <c>--echo VARIANT [runs] [trips]</c> runs the two-thread echo with per-trip timestamps instead (EchoLatency);
/// <c>--send-cost [rounds] [size]</c> times a one-thread burst of sends alone (SendCost).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--echo")
        {
            return EchoLatency.Run(args);
        }
        if (args.Length > 0 && args[0] == "--send-cost")
        {
            return SendCost.Run(args);
        }
        var job = Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(8)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId("Short-InProcess");
        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(Environment.GetEnvironmentVariable("IIC_BENCHMARK_ARTIFACTS")
                ?? Path.Combine(Path.GetTempPath(), "IIC.Benchmarks.Artifacts"))
            .WithOptions(ConfigOptions.JoinSummary);
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
