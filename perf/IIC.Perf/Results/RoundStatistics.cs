namespace IIC.Perf.Results;

/// <summary>
/// Verdicts from rounds: medians, and a bootstrap interval for the median of paired per-round ratios (two rows
/// measured in the same rounds, so each round's ratio shares its placement and its load).
/// </summary>
internal static class RoundStatistics
{
    private const int Resamples = 4000;

    /// <summary>The median (the mean of the middle two for an even count); NaN when empty.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>
    /// Each round's <paramref name="numerator"/> over its <paramref name="denominator"/>, for the rounds both kept (a
    /// dropped round is null in either list).
    /// </summary>
    public static List<double> PairedRatios(IReadOnlyList<long?> numerator, IReadOnlyList<long?> denominator)
    {
        ArgumentNullException.ThrowIfNull(numerator);
        ArgumentNullException.ThrowIfNull(denominator);
        var ratios = new List<double>();
        for (var i = 0; i < Math.Min(numerator.Count, denominator.Count); i++)
        {
            if (numerator[i] is { } n && denominator[i] is > 0 and var d)
            {
                ratios.Add((double)n / d);
            }
        }
        return ratios;
    }

    /// <summary>
    /// Each round's <paramref name="numerator"/> over its <paramref name="denominator"/> (rounded to 4 decimals), by
    /// index: null where either is missing (a dropped round, a probe that did not answer). A denominator list longer
    /// than the numerator's (the probes: one before each round and one after the last) pairs round r with its entry r,
    /// the probe before it.
    /// </summary>
    public static IReadOnlyList<double?> ByRound(IReadOnlyList<long?> numerator, IReadOnlyList<long?> denominator)
    {
        ArgumentNullException.ThrowIfNull(numerator);
        ArgumentNullException.ThrowIfNull(denominator);
        return [.. Enumerable.Range(0, numerator.Count).Select(r => r < denominator.Count && numerator[r] is { } n && denominator[r] is > 0 and var d ? (double?)Math.Round((double)n / d, 4) : null)];
    }

    /// <summary>
    /// The median of <paramref name="values"/> with a 95 % percentile-bootstrap interval (resampling the rounds with
    /// replacement, a fixed seed so a run's verdict is reproducible from its JSON).
    /// </summary>
    public static (double Median, double Low, double High) MedianWithInterval(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var median = Median(values);
        if (values.Count < 2)
        {
            return (median, median, median);
        }
        var random = new Random(42);
        var medians = new double[Resamples];
        var sample = new double[values.Count];
        for (var r = 0; r < Resamples; r++)
        {
            for (var i = 0; i < sample.Length; i++)
            {
                sample[i] = values[random.Next(values.Count)];
            }
            medians[r] = Median(sample);
        }
        Array.Sort(medians);
        return (median, medians[(int)(0.025 * (Resamples - 1))], medians[(int)(0.975 * (Resamples - 1))]);
    }

    /// <summary>Bins of <see cref="LogBins"/>: 1 % wide from 500 ns up (about 0.5 s at the last bin).</summary>
    public const int BinCount = 1400;

    private const double BinBaseNs = 500;
    private static readonly double s_logStep = Math.Log(1.01);

    /// <summary>The bin of a latency (clamped to the first and last).</summary>
    public static int LogBins(double ns) => ns <= BinBaseNs ? 0 : Math.Min(BinCount - 1, (int)(Math.Log(ns / BinBaseNs) / s_logStep));

    /// <summary>A bin's middle, in ns.</summary>
    public static double BinValue(int bin) => BinBaseNs * Math.Exp((bin + 0.5) * s_logStep);

    /// <summary>The median of the samples of the given rounds (each a histogram of <see cref="LogBins"/>), pooled; NaN when they hold none.</summary>
    public static double PooledMedian(IReadOnlyList<int[]> rounds, ReadOnlySpan<int> pick)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        Span<long> total = stackalloc long[BinCount];
        total.Clear();
        long count = 0;
        foreach (var index in pick)
        {
            var bins = rounds[index];
            for (var b = 0; b < BinCount; b++)
            {
                total[b] += bins[b];
                count += bins[b];
            }
        }
        if (count == 0)
        {
            return double.NaN;
        }
        long seen = 0;
        for (var b = 0; b < BinCount; b++)
        {
            seen += total[b];
            if (2 * seen >= count)
            {
                return BinValue(b);
            }
        }
        return BinValue(BinCount - 1);
    }

    /// <summary>
    /// The ratio of two rows' pooled medians, measured in the same rounds (<paramref name="numerator"/>[i] and
    /// <paramref name="denominator"/>[i] are round i's histograms, kept rounds only), with a 95 % interval from a paired
    /// cluster bootstrap: resample the rounds with replacement, the same rounds for both rows, and pool.
    /// </summary>
    public static (double Ratio, double Low, double High) PooledRatioWithInterval(IReadOnlyList<int[]> numerator, IReadOnlyList<int[]> denominator)
    {
        ArgumentNullException.ThrowIfNull(numerator);
        ArgumentNullException.ThrowIfNull(denominator);
        var rounds = Math.Min(numerator.Count, denominator.Count);
        var all = Enumerable.Range(0, rounds).ToArray();
        var ratio = PooledMedian(numerator, all) / PooledMedian(denominator, all);
        if (rounds < 2)
        {
            return (ratio, ratio, ratio);
        }
        const int resamples = 1000;
        var random = new Random(42);
        var pick = new int[rounds];
        var ratios = new List<double>(resamples);
        for (var r = 0; r < resamples; r++)
        {
            for (var i = 0; i < rounds; i++)
            {
                pick[i] = random.Next(rounds);
            }
            var value = PooledMedian(numerator, pick) / PooledMedian(denominator, pick);
            if (double.IsFinite(value))
            {
                ratios.Add(value);
            }
        }
        ratios.Sort();
        return ratios.Count == 0 ? (ratio, double.NaN, double.NaN) : (ratio, ratios[(int)(0.025 * (ratios.Count - 1))], ratios[(int)(0.975 * (ratios.Count - 1))]);
    }
}
