using IIC.Perf.Results;

namespace IIC.Perf.Cli;

/// <summary>One line per measurement on standard error, as it finishes.</summary>
internal static class Progress
{
    public static void Report(int index, int total, string what, BenchResult result, TimeSpan took)
    {
        ArgumentNullException.ThrowIfNull(result);
        var width = total.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        var outcome = result.Status switch
        {
            BenchResult.Unavailable => "unavailable: " + result.Reason,
            BenchResult.Failed => "FAILED: " + result.Reason,
            _ when result.P50Ns is not null => $"p50 {Units.Micros(result.P50Ns)} µs  p99 {Units.Micros(result.P99Ns)} µs  max {Units.Micros(result.MaxNs)} µs  ({result.Count:N0} round trips)",
            _ => $"{Units.Rate(result.MsgsPerS)} msg/s  {Units.Bandwidth(result.BytesPerS)}",
        };
        Console.Error.WriteLine($"[{index.ToString().PadLeft(width)}/{total}] {what,-38} {outcome}{(took > TimeSpan.Zero ? $"  ({took.TotalSeconds:0.0} s)" : "")}{(result.ProbeMoved is null ? "" : $"  probe {Placement.Text(result)} ns")}");
    }
}
