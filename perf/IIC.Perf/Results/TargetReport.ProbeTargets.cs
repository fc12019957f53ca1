namespace IIC.Perf.Results;

/// <summary>
/// Issue 17's poll/claim targets against the placement probe (p50 within 1.15x of the probe's p50, p99 within 1.5x of
/// its p99) for the 32 B pair measured in interleaved rounds, judged round by round (round 20).
/// </summary>
internal static partial class TargetReport
{
    /// <summary>
    /// The probe target <paramref name="name"/> from the kept rounds' ratios to their own probe (<paramref name="ratios"/>:
    /// <see cref="BenchResult.RoundProbeRatios"/> or <see cref="BenchResult.RoundProbeP99Ratios"/>, each round's block
    /// over the probe taken just before it): the median with its 95 % bootstrap interval, as the ratios to raw-shm are
    /// judged. The line says which placements its rounds were on, and when they were on more than one, one line per
    /// placement follows with its rounds alone. Before round 20 the row pooled over every kept round was divided by the
    /// median of those rounds' probes: with near and far rounds in one run, a p50 pooled mostly from near blocks (they
    /// hold 4x the round trips of far ones) over a far median probe read 0.3x, or a p99 from the far blocks' tail over a
    /// near probe 2.5x. Without per-round ratios (no probe ran) the line is left out, as the pooled one was. Since round
    /// 22 a round whose block flipped is left out while the row leaves its flips out (<see cref="WithoutFlipped"/>).
    /// </summary>
    private static IEnumerable<Check> ProbeRoundChecks(string name, BenchResult row, IReadOnlyList<double?>? ratios, double limit)
    {
        if (ratios is null)
        {
            yield return new Check(name, null, limit, true, "x", true);
            yield break;
        }
        var dropped = row.RoundsDropped is > 0 and var d ? $", {d} of {row.Rounds} dropped: probes disagreed" : "";
        (ratios, var flipped) = WithoutFlipped(row, partner: null, ratios);
        var placements = PlacementsText(row, ratios);
        yield return RoundsIntervalCheck(name, ratios, limit, $" interleaved rounds' ratios to the probe before each{dropped}{flipped}{placements}");
        foreach (var placementCheck in PlacementChecks(row, ratios, (line, kindRatios) => RoundsIntervalCheck(line, kindRatios, limit, " rounds' ratios to their probe")))
        {
            yield return placementCheck;
        }
    }

    /// <summary>
    /// Which placements the counted rounds (non-null <paramref name="ratios"/>) were on, by <see cref="Placement.RoundKinds"/>:
    /// ", all on the near placement", or ", rounds: 4 near, 6 far" (and how many had probes naming two kinds); empty
    /// when the row carries no round probes or no round was counted.
    /// </summary>
    private static string PlacementsText(BenchResult row, IReadOnlyList<double?> ratios)
    {
        if (row.RoundProbeNs is not { } probes)
        {
            return "";
        }
        var kinds = Placement.RoundKinds(probes, ratios.Count);
        var counted = Enumerable.Range(0, ratios.Count).Where(r => ratios[r] is not null).Select(r => kinds[r]).ToList();
        var named = counted.OfType<string>().GroupBy(k => k).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var between = counted.Count(k => k is null);
        if (named.Count == 1 && between == 0)
        {
            return $", all on the {named[0].Key} placement";
        }
        var parts = named.Select(g => $"{g.Count()} {g.Key}").ToList();
        if (between > 0)
        {
            parts.Add($"{between} between two");
        }
        return parts.Count == 0 ? "" : $", rounds: {string.Join(", ", parts)}";
    }
}
