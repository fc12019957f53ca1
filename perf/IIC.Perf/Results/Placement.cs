using System.Globalization;

namespace IIC.Perf.Results;

/// <summary>
/// Whether rows were measured on the same CPU placement, judged by their placement probes: a row whose probe moved
/// by more than <see cref="Tolerance"/> between before and after is compared with nothing, and two rows are
/// compared only when their probes agree within it. Rows of a run without a probe (it could not start) compare as
/// before, on trust; a row whose probes did not answer is moved.
/// </summary>
internal static partial class Placement
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
            ProbeMoved = before is not { } b || after is not { } a || !Agree(b.P50Ns, a.P50Ns) || Flipped(row, (b.P50Ns + a.P50Ns) / 2.0),
        };
    }

    /// <summary>
    /// The p50 over the probe's that a spinning small round trip stays within on one placement: iic's, raw-shm's and
    /// Aeron's read 1.0-1.9x here (adaptive the highest); the same row run on the other placement between two agreeing
    /// probes (the host flipped and back within the row) reads 3.5-4.5x a near probe or 0.35-0.45x a far one.
    /// </summary>
    public const double FlipLow = 0.7;

    /// <inheritdoc cref="FlipLow"/>
    public const double FlipHigh = 2.5;

    /// <summary>
    /// Whether a 32 B (up to 64 B) ping-pong row of a spinning mode (spin, spinpark, adaptive: they never sleep between
    /// round trips, so the row costs a small multiple of the probe) has a p50 that belongs to another placement than its
    /// agreeing probes (<paramref name="probeP50Ns"/>, the probe the row's target against the probe divides by: their
    /// mean for a row measured at once; for one round of an interleaved row, the probe before it, <see cref="Rounds"/>):
    /// marked moved (shown FLIP), compared with nothing (round 16: round 15's rows had such a row, 550 ns between probes
    /// of 130 and 150, that a ratio would have taken).
    /// </summary>
    public static bool Flipped(BenchResult row, double probeP50Ns)
    {
        ArgumentNullException.ThrowIfNull(row);
        return row.P50Ns is { } p50 && Flipped(row, p50, probeP50Ns);
    }

    /// <summary><see cref="Flipped(BenchResult, double)"/> for a p50 of the row's (the row's own, or one round's block's).</summary>
    private static bool Flipped(BenchResult row, long p50Ns, double probeP50Ns)
        => row.Test == "pingpong" && row.Size <= 64 && row.Mode is "spin" or "spinpark" or "adaptive"
            && probeP50Ns > 0 && (p50Ns < FlipLow * probeP50Ns || p50Ns > FlipHigh * probeP50Ns);

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

    /// <summary>
    /// "130/135" (before/after p50, ns), with " MOVED" when the probe moved, " FLIP" when the probes agree but the row's
    /// p50 belongs to another placement (<see cref="Flipped(BenchResult, double)"/>); "-" when not probed. A row of
    /// interleaved rounds says what its rounds say (<see cref="RoundsText"/>).
    /// </summary>
    public static string Text(BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.ProbeMoved is null)
        {
            return "-";
        }
        if (RoundsText(row) is { } rounds)
        {
            return rounds;
        }
        var before = row.ProbeNsBefore?.ToString(CultureInfo.InvariantCulture) ?? "?";
        var after = row.ProbeNsAfter?.ToString(CultureInfo.InvariantCulture) ?? "?";
        var flip = row.ProbeNsBefore is { } b && row.ProbeNsAfter is { } a && Agree(b, a);
        return $"{before}/{after}{(row.ProbeMoved == true ? flip ? " FLIP" : " MOVED" : "")}";
    }

    /// <summary>The placement a probe under this p50 reads as: the two vCPUs on one core's SMT siblings (about 80 ns here, first seen in round 15).</summary>
    public const long SiblingBelowNs = 95;

    /// <summary>The placement a probe at or above this p50 reads as: the two vCPUs on distant cores (450-600 ns here).</summary>
    public const long FarFromNs = 300;

    /// <summary>The placement kind a probe p50 names: siblings of one core, near cores (110-150 ns here) or far.</summary>
    public const string Sibling = "sibling";

    /// <inheritdoc cref="Sibling"/>
    public const string Near = "near";

    /// <inheritdoc cref="Sibling"/>
    public const string Far = "far";

    /// <summary>
    /// Which of the host's three placements a probe p50 (ns) reads as. <see cref="Agree"/> takes a sibling reading (80)
    /// and a near one (110-120) for one placement, which is right for keeping a round (its two probes are jitter of one
    /// another) and for a ratio between two rows measured on either; but the raw ring's one-way rate doubles on siblings
    /// where iic's does not (round 15), so verdicts pooled over rounds give each kind apart too (TargetReport), and an
    /// interleaved row whose kept rounds name two kinds is marked SPAN (round 22, <see cref="RoundMarks.Spans"/>).
    /// </summary>
    public static string Kind(long probeP50Ns) => probeP50Ns < SiblingBelowNs ? Sibling : probeP50Ns < FarFromNs ? Near : Far;

    /// <summary>
    /// The placement kind of each round of an interleaved pair, from the probes before each round and after the last
    /// (<see cref="BenchResult.RoundProbeNs"/>): null where a probe did not answer or the round's two probes name
    /// different kinds.
    /// </summary>
    public static IReadOnlyList<string?> RoundKinds(IReadOnlyList<long?> roundProbes, int rounds)
    {
        ArgumentNullException.ThrowIfNull(roundProbes);
        return [.. Enumerable.Range(0, rounds).Select(r => r + 1 < roundProbes.Count && roundProbes[r] is { } before && roundProbes[r + 1] is { } after && Kind(before) == Kind(after) ? Kind(before) : null)];
    }

    /// <summary>Whether two probe readings (ns) are one placement: both answered and within <see cref="Tolerance"/>.</summary>
    public static bool Agree(double a, double b) => a > 0 && b > 0 && Math.Max(a, b) / Math.Min(a, b) <= Tolerance;
}
