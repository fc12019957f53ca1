using System.Globalization;
using IIC.Perf.Harness;

namespace IIC.Perf.Results;

/// <summary>
/// Issue 6's targets, checked against this run when IICFast (<c>iic</c>) ran: each line says what was measured and
/// whether the target is met. A target whose rows are missing (a mode or size not run) is left out.
/// </summary>
internal static class TargetReport
{
    private const string Iic = RatioTable.Iic;

    public static void Print(TextWriter writer, IReadOnlyList<BenchResult> results)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(results);
        if (!results.Any(r => r.IsOk && r.Transport == Iic))
        {
            return;
        }
        var checks = new List<Check>();
        var spin = Find(results, "pingpong", Iic, "spin", 32);
        var rawShm = Find(results, "pingpong", "raw-shm", null, 32);
        checks.Add(Check.AtMost("ping-pong 32 B, spin: p50 within 1.1x of raw-shm", Divide(spin?.P50Ns, rawShm?.P50Ns), 1.1));
        checks.Add(Check.AtMost("ping-pong 32 B, spin: p99 within 1.3x of raw-shm", Divide(spin?.P99Ns, rawShm?.P99Ns), 1.3));
        checks.Add(Check.AtLeast("ping-pong 32 B, spin: p50 at least 100x lower than tcp-veth", Divide(Find(results, "pingpong", "tcp-veth", null, 32)?.P50Ns, spin?.P50Ns), 100));
        checks.Add(Check.AtLeast("ping-pong 32 B, spin, each process in its own namespaces: iic-ns p50 at least 100x lower than tcp-veth-ns",
            Divide(Find(results, "pingpong", "tcp-veth-ns", null, 32)?.P50Ns, Find(results, "pingpong", "iic-ns", "spin", 32)?.P50Ns), 100));
        checks.Add(Check.AtLeast("ping-pong 32 B, spin: p50 at least 50x lower than uds", Divide(Find(results, "pingpong", "uds", null, 32)?.P50Ns, spin?.P50Ns), 50));
        checks.Add(Check.AtMost("ping-pong 32 B, adaptive: p99 within 1.3x of spin", Divide(Find(results, "pingpong", Iic, "adaptive", 32)?.P99Ns, spin?.P99Ns), 1.3));
        checks.Add(Check.AtMost("ping-pong 32 B, park: p50 within 1.2x of raw-futex",
            Divide(Find(results, "pingpong", Iic, "park", 32)?.P50Ns, Find(results, "pingpong", "raw-futex", null, 32)?.P50Ns), 1.2));
        var gapAdaptive = Find(results, "idlegap", Iic, "adaptive", 32);
        checks.Add(Check.AtLeast("idle gap 32 B, adaptive: p50 at least 10x lower than park", Divide(Find(results, "idlegap", Iic, "park", 32)?.P50Ns, gapAdaptive?.P50Ns), 10));
        checks.Add(Check.AtMost("idle gap, adaptive: an idle receiver under 1 % of a CPU", gapAdaptive?.IdleCpuPct, 1, "%"));
        checks.Add(Check.AtLeast("throughput 32 B, poll: at least 70 % of raw-shm msgs/s",
            Divide(BestPoll(results, Iic, 32)?.MsgsPerS, BestPoll(results, "raw-shm", 32)?.MsgsPerS) * 100, 70, "%"));
        checks.Add(Check.AtLeast("throughput 4 KiB, poll: at least 80 % of raw-shm bytes/s",
            Divide(BestPoll(results, Iic, 4096)?.BytesPerS, BestPoll(results, "raw-shm", 4096)?.BytesPerS) * 100, 80, "%"));
        checks.Add(Check.AtLeast("throughput 1 MiB, poll: at least 50 % of memcpy bandwidth",
            Divide(BestPoll(results, Iic, 1 << 20)?.BytesPerS, results.FirstOrDefault(r => r.Transport == MemcpyBench.Name)?.BytesPerS) * 100, 50, "%"));

        var measured = checks.Where(c => c.Value is not null && double.IsFinite(c.Value.Value)).ToList();
        if (measured.Count == 0)
        {
            return;
        }
        writer.WriteLine();
        writer.WriteLine("Issue 6 targets (this run)");
        var table = new TextTable(("target", false), ("measured", true), ("", false));
        foreach (var check in measured)
        {
            table.Add(check.Name, check.ValueText, check.Verdict);
        }
        table.Write(writer);
    }

    private static BenchResult? Find(IReadOnlyList<BenchResult> results, string test, string transport, string? mode, int size)
        => results.FirstOrDefault(r => r.IsOk && r.Test == test && r.Transport == transport && r.Size == size && (mode is null || r.Mode == mode));

    private static BenchResult? BestPoll(IReadOnlyList<BenchResult> results, string transport, int size)
        => results.Where(r => r.IsOk && r.Test == "throughput" && r.Transport == transport && r.Size == size && r.Api == "poll").MaxBy(r => r.MsgsPerS ?? 0);

    private static double? Divide(double? numerator, double? denominator)
        => numerator is { } n && denominator is > 0 ? n / denominator.Value : null;

    private sealed record Check(string Name, double? Value, double Limit, bool AtMostLimit, string Unit)
    {
        public static Check AtMost(string name, double? value, double limit, string unit = "x") => new(name, value, limit, true, unit);

        public static Check AtLeast(string name, double? value, double limit, string unit = "x") => new(name, value, limit, false, unit);

        public string ValueText => Value is { } v ? v.ToString(v < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + (Unit == "%" ? " %" : "x") : "-";

        public string Verdict
        {
            get
            {
                var value = Value!.Value;
                var met = AtMostLimit ? value <= Limit : value >= Limit;
                var by = AtMostLimit ? (value / Limit) - 1 : 1 - (value / Limit);
                return met ? "met" : $"MISSED by {by * 100:0} %";
            }
        }
    }
}
