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
}
