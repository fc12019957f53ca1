using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>
/// Issue 17's verdicts as the job prints them (Results/TargetReport.cs): interval verdicts (met / MISSED /
/// undecided) from known rounds, point verdicts, and ratios refused between rows on different placements.
/// </summary>
public sealed class TargetReportTests
{
    private const string OneWayPoll = "32 B one-way poll: at least 80 % of raw-shm poll msgs/s";
    private const string ClaimP50 = "32 B poll/claim echo: p50 within 1.15x of the probe's p50";
    private const string ReceiveP50 = "32 B send/receive echo: p50 within 1.1x of raw-shm";

    [Fact]
    public void OneWay_EveryRoundAboveTheTarget_IsMet()
    {
        var line = Rows.TargetLine(OneWayPoll, Rows.InterleavedOneWay("poll", 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9));

        Assert.Contains("median of 10 interleaved rounds' ratios", line, StringComparison.Ordinal);
        Assert.Contains("90.0 % [90.0-90.0]", line, StringComparison.Ordinal);
        Assert.Contains("met (the whole 95 % interval at or above the target)", line, StringComparison.Ordinal);
    }

    [Fact]
    public void OneWay_AnIntervalExactlyAtTheTarget_IsMet()
        => Assert.Contains("met (", Rows.TargetLine(OneWayPoll, Rows.InterleavedOneWay("poll", 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8)), StringComparison.Ordinal);

    [Fact]
    public void OneWay_EveryRoundBelowTheTarget_IsMissed_ByHowMuchTheTopOfTheIntervalIs()
    {
        var line = Rows.TargetLine(OneWayPoll, Rows.InterleavedOneWay("poll", 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7));

        Assert.Contains("MISSED by 12.5 % or more (the whole 95 % interval below)", line, StringComparison.Ordinal);
    }

    [Fact]
    public void OneWay_RoundsOnBothSidesOfTheTarget_AreUndecided()
    {
        var line = Rows.TargetLine(OneWayPoll, Rows.InterleavedOneWay("poll", 0.7, 0.9, 0.7, 0.9, 0.7, 0.9, 0.7, 0.9, 0.7, 0.9));

        Assert.Contains("80.0 % [70.0-90.0]", line, StringComparison.Ordinal);
        Assert.Contains("undecided: the 95 % interval straddles the target", line, StringComparison.Ordinal);
    }

    [Fact]
    public void OneWay_FewerThanSixKeptRounds_AreUndecided_EvenWhenEveryRoundMeetsIt()
    {
        // Ten rounds, five dropped (their placement probe moved): five kept are too few to trust an interval from.
        var line = Rows.TargetLine(OneWayPoll, Rows.InterleavedOneWay("poll", 0.95, null, 0.95, null, 0.95, null, 0.95, null, 0.95, null));

        Assert.Contains("median of 5 interleaved rounds' ratios", line, StringComparison.Ordinal);
        Assert.Contains("undecided: 5 kept rounds, at least 6 needed", line, StringComparison.Ordinal);
    }

    [Fact]
    public void OneWay_WithoutAnInterleavedPair_FallsBackToTheRowsRates()
    {
        var iic = new BenchResult { Test = "throughput", Transport = "iic", Mode = "spin", Api = "poll", Size = 32, MsgsPerS = 90 };
        var raw = new BenchResult { Test = "throughput", Transport = "raw-shm", Mode = "spin", Api = "poll", Size = 32, MsgsPerS = 100 };

        var line = Rows.TargetLine(OneWayPoll, iic, raw);

        Assert.Contains("90.0 %", line, StringComparison.Ordinal);
        Assert.EndsWith("met", line, StringComparison.Ordinal);
    }

    [Fact]
    public void ClaimEcho_IsJudgedAgainstItsOwnRowsProbe()
    {
        var met = Rows.TargetLine(ClaimP50, Rows.PingPong("iic", "poll-claim", 140, 125, 125));
        var missed = Rows.TargetLine(ClaimP50, Rows.PingPong("iic", "poll-claim", 160, 125, 125));

        Assert.Contains("1.12x", met, StringComparison.Ordinal);
        Assert.EndsWith("met", met, StringComparison.Ordinal);
        Assert.Contains("1.28x", missed, StringComparison.Ordinal);
        Assert.EndsWith("MISSED by 11 %", missed, StringComparison.Ordinal);
    }

    [Fact]
    public void ClaimEcho_WhoseProbeMoved_IsNotJudged()
    {
        // Near before, far after: the row is compared with nothing, so no verdict can come from it.
        var moved = Rows.PingPong("iic", "poll-claim", 140, 125, 520);

        Assert.True(moved.ProbeMoved);
        Assert.DoesNotContain(ClaimP50, Rows.Report(moved), StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_AgainstARawShmRowOnAnotherPlacement_IsNotComparable()
    {
        var iic = Rows.PingPong("iic", "receive", 150, 125, 130);
        var farRaw = Rows.PingPong("raw-shm", "receive", 400, 500, 520);
        var nearRaw = Rows.PingPong("raw-shm", "receive", 140, 120, 128);

        Assert.EndsWith("not comparable: the rows' placement probes differ", Rows.TargetLine(ReceiveP50, iic, farRaw), StringComparison.Ordinal);
        var compared = Rows.TargetLine(ReceiveP50, iic, nearRaw);
        Assert.Contains("1.07x", compared, StringComparison.Ordinal);
        Assert.EndsWith("met", compared, StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_TakesTheFastestRowWhoseProbeStayed()
    {
        var iic = Rows.PingPong("iic", "receive", 150, 125, 130);
        var moved = Rows.PingPong("raw-shm", "receive", 50, 125, 520); // fast, but its probe moved: left out
        var kept = Rows.PingPong("raw-shm", "receive", 125, 125, 125);

        Assert.Contains("1.20x", Rows.TargetLine(ReceiveP50, iic, moved, kept), StringComparison.Ordinal);
    }

    [Fact]
    public void NoIicRow_PrintsNoTargets()
    {
        Assert.Equal("", Rows.Report(Rows.PingPong("raw-shm", "receive", 125, 125, 125)));
        var failed = Rows.PingPong("iic", "receive", 150, 125, 130) with { Status = BenchResult.Failed, Reason = "x" };
        Assert.Equal("", Rows.Report(failed));
    }

    [Theory]
    [InlineData(1.10, 1.05, 1.15, 12, 0, "met (the whole 95 % interval within the limit)")]
    [InlineData(1.15, 1.05, 1.30, 12, 0, "undecided: the 95 % interval straddles the limit")]
    [InlineData(1.40, 1.26, 1.50, 12, 0, "MISSED by 5 % or more (the whole 95 % interval above)")]
    [InlineData(1.10, 1.05, 1.15, 12, 8, "undecided: 4 kept rounds, at least 6 needed")]
    public void ChannelsFlatness_IsJudgedByThePooledRatiosInterval(double ratio, double low, double high, int rounds, int dropped, string verdict)
    {
        var few = Rows.Channels(1, 10_000) with { Rounds = rounds, RoundsDropped = dropped };
        var many = Rows.Channels(1000, 11_000) with { Rounds = rounds, RoundsDropped = dropped, P50RatioToFewest = ratio, P50RatioLow = low, P50RatioHigh = high };

        var line = Rows.TargetLine("wake-up p50 flat from 1 to 1000 idle channels (within 1.2x)", few, many);

        Assert.Contains($"pooled p50 ratio over {rounds - dropped} rounds", line, StringComparison.Ordinal);
        Assert.EndsWith(verdict, line, StringComparison.Ordinal);
    }

    [Fact]
    public void ChannelsFlatness_FromRoundP50s_IsTheMedianOfThePairedRatios()
    {
        var few = Rows.Channels(1, 10_000) with { RoundP50Ns = [10_000, 10_000, null, 10_000, 10_000, 10_000, 10_000, 10_000] };
        var many = Rows.Channels(1000, 11_000) with { RoundP50Ns = [11_000, 11_000, 11_000, 11_000, 11_000, 11_000, null, 11_000] };

        var line = Rows.TargetLine("wake-up p50 flat from 1 to 1000 idle channels (within 1.2x)", few, many);

        Assert.Contains("median of 6 rounds' ratios", line, StringComparison.Ordinal);
        Assert.Contains("1.10x [1.10-1.10]", line, StringComparison.Ordinal);
        Assert.EndsWith("met (the whole 95 % interval within the limit)", line, StringComparison.Ordinal);
    }

    [Fact]
    public void SizesTarget_FromInterleavedRounds_CountsEveryKeptRound_WhateverTheSinksPollCounts()
    {
        // 4 KiB rows measured interleaved (round 16): their messages per poll name no sink regime (a ring of large messages
        // holds a handful), so no round is left out for them, unlike the 32 B pair's.
        var iic = Rows.InterleavedOneWay("poll", 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5, 0.5) with
        {
            Test = "sizes", Size = 4096, RoundMsgsPerPoll = [200, 200, 200, 200, 200, 200, 200, 1, 1, 1],
        };
        var raw = new BenchResult
        {
            Test = "sizes", Transport = "raw-shm", Mode = "spin", Api = "poll", Size = 4096, MsgsPerS = 1_000_000,
            InterleavedWith = "iic", RoundMsgsPerPoll = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        };

        var line = Rows.TargetLine("sizes 4 KiB: bytes delivered at least 80 % of raw-shm", iic, raw);

        Assert.Contains("median of 10 interleaved rounds' ratios [95 % CI]", line, StringComparison.Ordinal);
        Assert.Contains("120.0 %", line, StringComparison.Ordinal);
        Assert.DoesNotContain("left out", line, StringComparison.Ordinal);
    }
}
