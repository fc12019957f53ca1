using System.Diagnostics;
using HdrHistogram;

namespace IIC.Perf.Results;

/// <summary>What a latency histogram says, in nanoseconds: the headline percentiles and the curve for the chart.</summary>
internal sealed record LatencySummary(long Count, long P50Ns, long P90Ns, long P99Ns, long P999Ns, long MaxNs, long MeanNs, IReadOnlyList<PercentilePoint> Curve)
{
    // The chart's x axis is -log10(1 - p): 0 = 0 %, 1 = 90 %, 2 = 99 %, 3 = 99.9 %... sampled every 1/20 of a nine.
    private const double NinesStep = 0.05;

    /// <summary>A histogram of Stopwatch ticks (what the measuring loops record) to a summary in nanoseconds.</summary>
    public static LatencySummary FromTicks(HistogramBase histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        var count = histogram.TotalCount;
        var curve = new List<PercentilePoint>();
        if (count > 0)
        {
            // Beyond log10(count) nines there are no samples left to tell percentiles apart: the last point is the max.
            var lastNines = Math.Log10(count);
            for (var nines = 0.0; nines < lastNines; nines += NinesStep)
            {
                var percentile = Math.Round(100 * (1 - Math.Pow(10, -nines)), 6);
                curve.Add(new PercentilePoint(percentile, ToNs(histogram.GetValueAtPercentile(percentile))));
            }
            curve.Add(new PercentilePoint(Math.Round(100 * (1 - Math.Pow(10, -lastNines)), 6), ToNs(histogram.GetMaxValue())));
        }
        return new LatencySummary(
            count,
            ToNs(histogram.GetValueAtPercentile(50)),
            ToNs(histogram.GetValueAtPercentile(90)),
            ToNs(histogram.GetValueAtPercentile(99)),
            ToNs(histogram.GetValueAtPercentile(99.9)),
            ToNs(histogram.GetMaxValue()),
            (long)Math.Round(histogram.GetMean() * NsPerTick),
            curve);
    }

    /// <summary>An empty histogram of ticks that holds round trips from one tick to a minute at 3 significant digits.</summary>
    public static LongHistogram NewTickHistogram() => new(1, MaxTicks, 3);

    /// <summary>The largest value <see cref="NewTickHistogram"/> records; larger ones are clamped to it.</summary>
    public static long MaxTicks { get; } = Stopwatch.Frequency * 60;

    private static double NsPerTick { get; } = 1e9 / Stopwatch.Frequency;

    /// <summary>Stopwatch ticks in nanoseconds, rounded.</summary>
    public static long ToNs(long ticks) => (long)Math.Round(ticks * NsPerTick);
}
