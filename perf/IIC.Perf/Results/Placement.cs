using System.Globalization;

namespace IIC.Perf.Results;

/// <summary>
/// Whether rows were measured on the same CPU placement, judged by their placement probes: a row whose probe moved
/// by more than <see cref="Tolerance"/> between before and after is compared with nothing, and two rows are
/// compared only when their probes agree within it. Rows of a run without a probe (it could not start) compare as
/// before, on trust; a row whose probes did not answer is moved.
/// </summary>
internal static class Placement
{
    /// <summary>Near and far placements differ by 3-4x here; the jitter of one placement stays well under this.</summary>
    public const double Tolerance = 1.5;

    /// <summary>
    /// The probe fields of a row measured between <paramref name="before"/> and <paramref name="after"/>. When the run
    /// has a probe (<paramref name="probing"/>) a probe that did not answer (null) marks the row moved, even when
    /// neither did: only a run without a probe leaves its rows unprobed, compared on trust.
    /// </summary>
    public static BenchResult WithProbes(BenchResult row, (long P50Ns, long P99Ns)? before, (long P50Ns, long P99Ns)? after, bool probing)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (before is null && after is null)
        {
            return probing ? row with { ProbeMoved = true } : row;
        }
        return row with
        {
            ProbeNsBefore = before?.P50Ns,
            ProbeNsAfter = after?.P50Ns,
            ProbeP99NsBefore = before?.P99Ns,
            ProbeP99NsAfter = after?.P99Ns,
            ProbeMoved = before is not { } b || after is not { } a || !Agree(b.P50Ns, a.P50Ns),
        };
    }

    /// <summary>True when a ratio between the two rows means something (same placement, or neither probed).</summary>
    public static bool Same(BenchResult? first, BenchResult? second)
    {
        if (first is null || second is null)
        {
            return false;
        }
        if (first.ProbeMoved is null && second.ProbeMoved is null)
        {
            return true;
        }
        return first.Placement is { } a && second.Placement is { } b && Agree(a, b);
    }

    /// <summary>"130/135" (before/after p50, ns), with " MOVED" when the probe moved; "-" when not probed.</summary>
    public static string Text(BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.ProbeMoved is null)
        {
            return "-";
        }
        var before = row.ProbeNsBefore?.ToString(CultureInfo.InvariantCulture) ?? "?";
        var after = row.ProbeNsAfter?.ToString(CultureInfo.InvariantCulture) ?? "?";
        return $"{before}/{after}{(row.ProbeMoved == true ? " MOVED" : "")}";
    }

    /// <summary>Whether two probe readings (ns) are one placement: both answered and within <see cref="Tolerance"/>.</summary>
    public static bool Agree(double a, double b) => a > 0 && b > 0 && Math.Max(a, b) / Math.Min(a, b) <= Tolerance;
}
