using System.Globalization;

namespace IIC.Perf.Results;

/// <summary>
/// The placement mark of a row measured in interleaved rounds (round 21), judged round by round from the probe before
/// and after each round (<see cref="BenchResult.RoundProbeNs"/>) rather than from the median of its kept rounds'
/// probes: the rows' <c>probe_ns_before</c>/<c>after</c> stay those medians, but on a run whose rounds were on near and
/// far placements the medians belong to neither, so a row of near and far blocks could read as one placement (and be
/// compared), or its pooled p50 could read as another placement than that median (FLIP) when every block was on its
/// own round's placement. Since round 22 it uses the targets' rules: a SPAN is a row whose kept rounds name more than
/// one <see cref="Kind"/> (the rounds the targets give a line per placement), a block is checked against the probe
/// taken before its round (what <see cref="BenchResult.RoundProbeRatios"/> divide by), and a few flipped rounds are
/// left out of the pair's ratios instead of marking the row.
/// </summary>
internal static partial class Placement
{
    /// <summary>
    /// The fewest kept rounds whose blocks stayed on their probe's placement that a row with flipped rounds needs to
    /// stay compared (its flipped rounds then left out of the pair's ratios, <see cref="RoundMarks.LeavesOutFlipped"/>):
    /// the kept rounds the targets want for a verdict (TargetReport's bootstrap interval is not trusted from fewer), so
    /// a row is a reference only while what is left of it could carry a verdict of its own. Of a pair's 10 rounds, up to
    /// 4 may flip. With more, the flips are no host's passing move but the row's own state (a loaded machine, or a round
    /// trip that costs more than 2.5 probes), which cannot be told apart: the row is marked and its rounds all counted.
    /// </summary>
    public const int MinUnflippedRounds = TargetReport.MinRoundsForVerdict;

    /// <summary>
    /// What the rounds of an interleaved row say of its placement: how many were kept (their two probes agree, the
    /// harness's rule), the lowest and highest probe p50 (ns) around them, how many placement kinds the kept rounds
    /// name (<see cref="RoundKinds"/>; a round whose two probes name different kinds names none), and which kept
    /// rounds' blocks have a p50 that belongs to another placement than the probe before their round
    /// (<see cref="Flipped(BenchResult, double)"/>).
    /// </summary>
    public readonly record struct RoundMarks(int Kept, long LowNs, long HighNs, int Kinds, IReadOnlyList<bool> Flipped)
    {
        /// <summary>How many kept rounds' blocks flipped.</summary>
        public int FlippedRounds => Flipped.Count(f => f);

        /// <summary>
        /// The kept rounds ran on more than one placement kind: the rounds TargetReport gives a line per placement. Not
        /// <see cref="Tolerance"/> (before round 22): sibling (80 ns) and near (120 ns) rounds agree within it but are
        /// two placements whose ratios differ, and two near rounds of 110 and 200 ns are one placement beyond it.
        /// </summary>
        public bool Spans => Kinds > 1;

        /// <summary>Too many kept rounds flipped for the rest to stand for the row (<see cref="MinUnflippedRounds"/>): marked FLIP.</summary>
        public bool FlipsMark => FlippedRounds > 0 && Kept - FlippedRounds < MinUnflippedRounds;

        /// <summary>Some kept rounds flipped, few enough that they are left out of the pair's ratios and the row stays compared.</summary>
        public bool LeavesOutFlipped => FlippedRounds > 0 && !FlipsMark;

        /// <summary>The row is compared with nothing: no round kept, its rounds on two placement kinds, or too many blocks on another placement than their probe.</summary>
        public bool Moved => Kept == 0 || Spans || FlipsMark;
    }

    /// <summary>
    /// <see cref="RoundMarks"/> of <paramref name="row"/> from its fields (so a row read back from the JSON says the
    /// same): null when it is not a probed interleaved row (no <see cref="BenchResult.Rounds"/> or
    /// <see cref="BenchResult.RoundProbeNs"/>). A round is kept when both its probes answered and agree; its block's
    /// p50 is the row's <see cref="BenchResult.RoundP50Ns"/> entry (ping-pong rows), checked against the probe before
    /// the round: the base of <see cref="BenchResult.RoundProbeRatios"/>, so a flipped round is one whose probe ratio is
    /// outside <see cref="FlipLow"/>-<see cref="FlipHigh"/> (round 21 checked it against the mean of the round's two
    /// probes: a block of 260 ns between probes of 100 and 145 read 2.1x there and 2.6x in the probe target).
    /// </summary>
    public static RoundMarks? Rounds(BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.Rounds is not { } rounds || row.RoundProbeNs is not { } probes || probes.Count < rounds + 1)
        {
            return null;
        }
        var kept = 0;
        var flipped = new bool[rounds];
        var kinds = RoundKinds(probes, rounds);
        var keptKinds = new HashSet<string>(StringComparer.Ordinal);
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
            if (kinds[r] is { } kind)
            {
                keptKinds.Add(kind);
            }
            flipped[r] = row.RoundP50Ns is { } p50s && r < p50s.Count && p50s[r] is { } p50 && Flipped(row, p50, before);
        }
        return kept == 0 ? new RoundMarks(0, 0, 0, 0, flipped) : new RoundMarks(kept, low, high, keptKinds.Count, flipped);
    }

    /// <summary>
    /// The rounds whose blocks a row's pooled figures take (round 22): its kept rounds (<paramref name="keptRounds"/>),
    /// less those whose block flipped when the row leaves them out (<see cref="RoundMarks.LeavesOutFlipped"/>), as its
    /// target lines do; all <paramref name="rounds"/> when none was kept (the row is MOVED). A row with too many flipped
    /// rounds (FLIP) keeps them all: it is compared with nothing anyway, and what it pools is what it measured.
    /// </summary>
    public static IReadOnlyList<int> PooledRounds(BenchResult row, IReadOnlyList<int> keptRounds, int rounds)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(keptRounds);
        if (keptRounds.Count == 0)
        {
            return [.. Enumerable.Range(0, rounds)];
        }
        return Rounds(row) is { LeavesOutFlipped: true } marks
            ? [.. keptRounds.Where(r => r >= marks.Flipped.Count || !marks.Flipped[r])]
            : keptRounds;
    }

    /// <summary>
    /// The rounds a comparison between the two rows of an interleaved pair leaves out: those in which either row's block
    /// flipped, when that row leaves its flipped rounds out (<see cref="RoundMarks.LeavesOutFlipped"/>); none for a row
    /// marked FLIP (its flips are its state, counted) or without round marks. Index: round.
    /// </summary>
    public static IReadOnlyList<bool> FlippedLeftOut(BenchResult row, BenchResult? partner)
    {
        ArgumentNullException.ThrowIfNull(row);
        var rounds = row.Rounds ?? 0;
        var left = new bool[rounds];
        foreach (var side in new[] { row, partner })
        {
            if (side is not null && Rounds(side) is { LeavesOutFlipped: true } marks)
            {
                for (var r = 0; r < Math.Min(rounds, marks.Flipped.Count); r++)
                {
                    left[r] |= marks.Flipped[r];
                }
            }
        }
        return left;
    }

    /// <summary>
    /// <paramref name="row"/> (probed, its round fields set) with <see cref="BenchResult.ProbeMoved"/> judged by its
    /// rounds (<see cref="RoundMarks.Moved"/>) instead of by the medians of their probes, and, for a row with blocks to
    /// check (<see cref="BenchResult.RoundP50Ns"/>), <see cref="BenchResult.RoundsFlipped"/>; a row that is not a probed
    /// interleaved row is returned as it is.
    /// </summary>
    public static BenchResult JudgedByRounds(BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return row.ProbeMoved is not null && Rounds(row) is { } marks
            ? row with { ProbeMoved = marks.Moved, RoundsFlipped = row.RoundP50Ns is null ? null : marks.FlippedRounds }
            : row;
    }

    /// <summary>
    /// The probe column of an interleaved row: "80-125 SPAN" (the lowest and highest probe p50 around its kept rounds)
    /// when they ran on two placement kinds; after the probes " FLIP 5/9" when 5 of its 9 kept rounds' blocks belong to
    /// another placement than their probe, too many to leave out (the row is marked), or " 2/9 flipped" when the 2 are
    /// left out of its comparisons (the row is not marked); "130/135 MOVED" (the first and last probe) when no round
    /// was kept; null when the row is not a probed interleaved row.
    /// </summary>
    private static string? RoundsText(BenchResult row)
    {
        if (Rounds(row) is not { } marks)
        {
            return null;
        }
        var flip = marks.FlipsMark ? string.Create(CultureInfo.InvariantCulture, $" FLIP {marks.FlippedRounds}/{marks.Kept}")
            : marks.LeavesOutFlipped ? string.Create(CultureInfo.InvariantCulture, $" {marks.FlippedRounds}/{marks.Kept} flipped")
            : "";
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
