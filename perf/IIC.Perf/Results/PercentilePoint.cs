namespace IIC.Perf.Results;

/// <summary>One point of a latency distribution: the latency at or under which this percentage of samples fall.</summary>
/// <param name="Percentile">0 to 100.</param>
/// <param name="Ns">Latency in nanoseconds.</param>
internal sealed record PercentilePoint(double Percentile, long Ns);
