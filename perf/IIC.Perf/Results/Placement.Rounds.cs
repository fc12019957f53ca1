using System.Globalization;

namespace IIC.Perf.Results;

/// <summary>
/// The placement mark of a row measured in interleaved rounds (round 21), judged round by round from the probe before
/// and after each round (<see cref="BenchResult.RoundProbeNs"/>) rather than from the median of its kept rounds'
/// probes: the rows' <c>probe_ns_before</c>/<c>after</c> stay those medians, but on a run whose rounds were on near and
/// far placements the medians belong to neither, so a row of near and far blocks could read as one placement (and be
/// compared), or its pooled p50 could read as another placement than that median (FLIP) when every block was on its
/// own round's placement.
/// </summary>
internal static partial class Placement
{
    /// <summary>
    /// What the rounds of an interleaved row say of its placement: how many were kept (their two probes agree, the
    /// harness's rule), the lowest and highest probe p50 (ns) around them, and how many kept rounds' blocks have a p50
    /// that belongs to another placement than their own round's probes (<see cref="Flipped(BenchResult, double)"/>).
    /// </summary>
    public readonly record struct RoundMarks(int Kept, long LowNs, long HighNs, int FlippedRounds)
    {
        /// <summary>The kept rounds ran on more than one placement: their probes are more than <see cref="Tolerance"/> apart.</summary>
        public bool Spans => Kept > 0 && !Agree(LowNs, HighNs);

        /// <summary>The row is compared with nothing: no round kept, its rounds on two placements, or a block on another placement than its probes.</summary>
        public bool Moved => Kept == 0 || Spans || FlippedRounds > 0;
    }

    /// <summary>
    /// <see cref="RoundMarks"/> of <paramref name="row"/> from its fields (so a row read back from the JSON says the
    /// same): null when it is not a probed interleaved row (no <see cref="BenchResult.Rounds"/> or
    /// <see cref="BenchResult.RoundProbeNs"/>). A round is kept when both its probes answered and agree; its block's
    /// p50 is the row's <see cref="BenchResult.RoundP50Ns"/> entry (ping-pong rows), checked against the mean of the
    /// round's two probes.
    /// </summary>
    public static RoundMarks? Rounds(BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.Rounds is not { } rounds || row.RoundProbeNs is not { } probes || probes.Count < rounds + 1)
        {
            return null;
        }
        var kept = 0;
        var flipped = 0;
        var (low, high) = (long.MaxValue, 0L);
        for (var r = 0; r < rounds; r++)
        {
            if (probes[r] is not { } before || probes[r + 1] is not { } after || !Agree(before, after))
            {
                continue;
            }
            kept++;
            low = Math.Min(low, Math.Min(before, after));
            high = Math.Max(high, Math.Max(before, after));
            if (row.RoundP50Ns is { } p50s && r < p50s.Count && p50s[r] is { } p50 && Flipped(row, p50, (before + after) / 2.0))
            {
                flipped++;
            }
        }
        return kept == 0 ? new RoundMarks(0, 0, 0, 0) : new RoundMarks(kept, low, high, flipped);
    }

    /// <summary>
    /// <paramref name="row"/> (probed, its round fields set) with <see cref="BenchResult.ProbeMoved"/> judged by its
    /// rounds (<see cref="RoundMarks.Moved"/>) instead of by the medians of their probes; a row that is not a probed
    /// interleaved row is returned as it is.
    /// </summary>
    public static BenchResult JudgedByRounds(BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return row.ProbeMoved is not null && Rounds(row) is { } marks ? row with { ProbeMoved = marks.Moved } : row;
    }

    /// <summary>
    /// The probe column of an interleaved row: "120-500 SPAN" (the lowest and highest probe p50 around its kept rounds)
    /// when they ran on two placements, " FLIP 2/9" after the probes when 2 of its 9 kept rounds' blocks belong to
    /// another placement than their own probes, "130/135 MOVED" (the first and last probe) when no round was kept;
    /// null when the row is not a probed interleaved row.
    /// </summary>
    private static string? RoundsText(BenchResult row)
    {
        if (Rounds(row) is not { } marks)
        {
            return null;
        }
        var flip = marks.FlippedRounds > 0 ? string.Create(CultureInfo.InvariantCulture, $" FLIP {marks.FlippedRounds}/{marks.Kept}") : "";
        if (marks.Kept == 0)
        {
            return $"{Ns(row.ProbeNsBefore)}/{Ns(row.ProbeNsAfter)} MOVED";
        }
        return marks.Spans
            ? string.Create(CultureInfo.InvariantCulture, $"{marks.LowNs}-{marks.HighNs} SPAN{flip}")
            : $"{Ns(row.ProbeNsBefore)}/{Ns(row.ProbeNsAfter)}{flip}";
    }

    private static string Ns(long? ns) => ns?.ToString(CultureInfo.InvariantCulture) ?? "?";
}
