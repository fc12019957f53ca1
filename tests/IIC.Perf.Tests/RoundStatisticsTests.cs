using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>The round statistics behind issue 17's verdicts (Results/RoundStatistics.cs), on inputs whose answers are known.</summary>
public sealed class RoundStatisticsTests
{
    [Fact]
    public void Median_OddEvenAndEmpty()
    {
        Assert.Equal(2, RoundStatistics.Median([3, 1, 2]));
        Assert.Equal(2.5, RoundStatistics.Median([4, 1, 3, 2]));
        Assert.Equal(7, RoundStatistics.Median([7]));
        Assert.True(double.IsNaN(RoundStatistics.Median([])));
    }

    [Fact]
    public void PairedRatios_KeepOnlyRoundsBothRowsKept()
    {
        var ratios = RoundStatistics.PairedRatios([100, null, 300, 400, 500], [50, 60, null, 0, 250]);

        Assert.Equal(new[] { 2.0, 2.0 }, ratios); // round 1 and 2 dropped by one side each, round 3's denominator is 0
    }

    [Fact]
    public void ByRound_PairsEachRoundWithTheEntryBeforeIt_AndKeepsTheRoundsPlaces()
    {
        // Four rounds, five probes (one before each round and one after the last): round r divides by probe r.
        var ratios = RoundStatistics.ByRound([130, null, 600, 150], [100, 120, 500, null, 140]);

        Assert.Equal(new double?[] { 1.3, null, 1.2, null }, ratios); // round 1 dropped, round 3's probe did not answer
    }

    [Fact]
    public void MedianWithInterval_OfIdenticalRounds_IsThatValue()
    {
        var (median, low, high) = RoundStatistics.MedianWithInterval([0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);

        Assert.Equal((0.9, 0.9, 0.9), (median, low, high));
    }

    [Fact]
    public void MedianWithInterval_OfOneRound_HasNoSpread()
        => Assert.Equal((5.0, 5.0, 5.0), RoundStatistics.MedianWithInterval([5.0]));

    [Fact]
    public void MedianWithInterval_OfTwoEqualGroups_SpansBoth()
    {
        // Ten rounds, half at 70 and half at 90: a resample's median is 70, 80 or 90, and both ends are likely.
        double[] rounds = [70, 90, 70, 90, 70, 90, 70, 90, 70, 90];

        var (median, low, high) = RoundStatistics.MedianWithInterval(rounds);

        Assert.Equal(80, median);
        Assert.Equal(70, low);
        Assert.Equal(90, high);
    }

    [Fact]
    public void MedianWithInterval_IsReproducible_AndHoldsTheMedian()
    {
        var random = new Random(3);
        var rounds = Enumerable.Range(0, 10).Select(_ => 0.6 + (random.NextDouble() * 0.4)).ToArray();

        var first = RoundStatistics.MedianWithInterval(rounds);
        var second = RoundStatistics.MedianWithInterval([.. rounds]);

        Assert.Equal(first, second); // a fixed seed: the verdict can be recomputed from the JSON
        Assert.InRange(first.Median, first.Low, first.High);
        Assert.True(first.Low >= rounds.Min() && first.High <= rounds.Max());
        Assert.True(first.Low < first.High);
    }

    [Fact]
    public void LogBins_RoundTripWithinOnePercent()
    {
        foreach (var ns in new[] { 600.0, 1_000, 12_345, 1_000_000, 100_000_000 })
        {
            var value = RoundStatistics.BinValue(RoundStatistics.LogBins(ns));
            Assert.InRange(value / ns, 0.99, 1.01);
        }
        Assert.Equal(0, RoundStatistics.LogBins(10));
        Assert.Equal(RoundStatistics.BinCount - 1, RoundStatistics.LogBins(1e12));
    }

    [Fact]
    public void PooledRatio_OfRowsTenBinsApart_IsTheBinRatio_WithNoSpread()
    {
        var few = Enumerable.Range(0, 8).Select(_ => Histogram((100, 50))).ToList();
        var many = Enumerable.Range(0, 8).Select(_ => Histogram((110, 50))).ToList();

        var (ratio, low, high) = RoundStatistics.PooledRatioWithInterval(many, few);

        var expected = RoundStatistics.BinValue(110) / RoundStatistics.BinValue(100);
        Assert.Equal(expected, ratio, 9);
        Assert.Equal(expected, low, 9);
        Assert.Equal(expected, high, 9);
    }

    [Fact]
    public void PooledRatio_PairsTheRounds_AndItsIntervalSpansTheRoundsThatDiffer()
    {
        // Rounds alternate between two placements; within a round both rows share it (the same ratio, 1.0) except
        // in the rounds where the many-channels row reads ten bins slower.
        var few = new List<int[]>();
        var many = new List<int[]>();
        for (var round = 0; round < 12; round++)
        {
            var placement = round % 2 == 0 ? 100 : 300;
            few.Add(Histogram((placement, 40)));
            many.Add(Histogram((placement + (round < 4 ? 10 : 0), 40)));
        }

        var (ratio, low, high) = RoundStatistics.PooledRatioWithInterval(many, few);

        Assert.InRange(ratio, 0.999, RoundStatistics.BinValue(110) / RoundStatistics.BinValue(100));
        Assert.True(low <= ratio && ratio <= high, $"{low} <= {ratio} <= {high}");
        Assert.True(high > 1.0, "some resamples must see the slow rounds");
    }

    [Fact]
    public void PooledMedian_OfNoSamples_IsNaN()
        => Assert.True(double.IsNaN(RoundStatistics.PooledMedian([new int[RoundStatistics.BinCount]], [0])));

    private static int[] Histogram(params (int Bin, int Count)[] entries)
    {
        var bins = new int[RoundStatistics.BinCount];
        foreach (var (bin, count) in entries)
        {
            bins[bin] += count;
        }
        return bins;
    }
}
