using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>
/// Issue 17's round-trip targets from an interleaved 32 B ping-pong pair (round 19, Harness/InterleavedPingPong.cs):
/// p50 and p99 against raw-shm judged by the rounds' ratios (median, 95 % bootstrap interval: met / MISSED /
/// undecided), p99.9 too since round 21 (by the rows pooled over the kept rounds before), the probe targets each round
/// against the probe before it (round 20), with each placement's rounds apart when the run spanned two. Rows measured
/// one after the other are judged as before.
/// </summary>
public sealed class PingPongVerdictTests
{
    private const string ReceiveP50 = "32 B send/receive echo: p50 within 1.1x of raw-shm";
    private const string ReceiveP99 = "32 B send/receive echo: p99 within 1.1x of raw-shm";
    private const string ReceiveP999 = "32 B send/receive echo: p99.9 within 1.5x of raw-shm";
    private const string ClaimLikeForLike = "32 B poll/claim echo: p50 within 1.1x of raw-shm poll/claim (like for like)";
    private const string ClaimP50 = "32 B poll/claim echo: p50 within 1.15x of the probe's p50";
    private const string ClaimP99 = "32 B poll/claim echo: p99 within 1.5x of the probe's p99";

    [Fact]
    public void SendReceive_EveryRoundWithinTheLimit_IsMet_FromTheRounds_NotFromThePooledRows()
    {
        // The pooled p50s are 1.3x apart (what the old report divided), every round's ratio is 1.0: the rounds decide.
        var (iic, raw) = Rows.InterleavedPingPong("receive", Rows.Same(10, 1.0), iicP50: 130, rawP50: 100);

        var line = Rows.TargetLine(ReceiveP50, iic, raw);

        Assert.Contains("median of 10 interleaved rounds' ratios [95 % CI]", line, StringComparison.Ordinal);
        Assert.Contains("1.00x [1.00-1.00]", line, StringComparison.Ordinal);
        Assert.Contains("met (the whole 95 % interval within the limit)", line, StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_EveryRoundAboveTheLimit_IsMissed()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", Rows.Same(10, 1.32));

        var line = Rows.TargetLine(ReceiveP50, iic, raw);

        Assert.Contains("1.32x [1.32-1.32]", line, StringComparison.Ordinal);
        Assert.Contains("MISSED by 20 % or more (the whole 95 % interval above)", line, StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_RoundsOnBothSidesOfTheLimit_AreUndecided()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", [1.0, 1.2, 1.0, 1.2, 1.0, 1.2, 1.0, 1.2, 1.0, 1.2]);

        Assert.Contains("undecided: the 95 % interval straddles the limit", Rows.TargetLine(ReceiveP50, iic, raw), StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_SaysHowManyRoundsWereKept_AndFewerThanSixAreUndecided()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", [1.0, null, 1.0, null, 1.0, null, 1.0, null, 1.0, null]);

        var line = Rows.TargetLine(ReceiveP50, iic, raw);

        Assert.Contains("median of 5 interleaved rounds' ratios, 5 of 10 dropped: probes disagreed", line, StringComparison.Ordinal);
        Assert.Contains("undecided: 5 kept rounds, at least 6 needed", line, StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_NoKeptRound_IsUndecided_NotLeftOut()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", new double?[10]);

        Assert.Contains("undecided: no kept round", Rows.TargetLine(ReceiveP50, iic, raw), StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_P99_IsJudgedByTheRoundsP99Ratios()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", Rows.Same(8, 1.0), p99Ratios: Rows.Same(8, 1.5));

        Assert.Contains("met (", Rows.TargetLine(ReceiveP50, iic, raw), StringComparison.Ordinal);
        var p99 = Rows.TargetLine(ReceiveP99, iic, raw);
        Assert.Contains("median of 8 interleaved rounds' ratios", p99, StringComparison.Ordinal);
        Assert.Contains("1.50x [1.50-1.50]", p99, StringComparison.Ordinal);
        Assert.Contains("MISSED", p99, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1.4, "met (the whole 95 % interval within the limit)")]
    [InlineData(1.6, "MISSED by 6.7 % or more (the whole 95 % interval above)")]
    public void SendReceive_P999_IsJudgedByTheRoundsP999Ratios_NotTheRowsPooledOverThem(double roundRatio, string verdict)
    {
        // The rows pooled over the kept rounds read 1.2x apart whatever the rounds say: the rounds decide (round 21).
        double?[] ratios = [roundRatio, roundRatio, null, roundRatio, roundRatio, roundRatio, roundRatio, roundRatio, roundRatio, roundRatio];
        var (iic, raw) = Rows.InterleavedPingPong("receive", [1.0, 1.0, null, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], iicP999: 1200, rawP999: 1000, p999Ratios: ratios);

        var line = Rows.TargetLine(ReceiveP999, iic, raw);

        Assert.Contains("median of 9 interleaved rounds' ratios, 1 of 10 dropped: probes disagreed [95 % CI]", line, StringComparison.Ordinal);
        Assert.DoesNotContain("pooled", line, StringComparison.Ordinal);
        Assert.EndsWith(verdict, line.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_P999_RoundsOnNearAndFar_AreJudgedRoundByRound_WithALinePerPlacement()
    {
        // Five near rounds (probe 120 ns) at 1.2x raw-shm's p99.9, one dropped as the host moved the vCPUs, four far ones
        // (500 ns) at 1.3x: every round within the limit. The rows pooled over both placements read 1.6x apart (a tail
        // pooled from near and far blocks belongs to neither): the old line divided those and said MISSED.
        double?[] p999Ratios = [1.2, 1.2, 1.2, 1.2, 1.2, null, 1.3, 1.3, 1.3, 1.3];
        var (iic, raw) = Rows.InterleavedPingPong("receive", [1.0, 1.0, 1.0, 1.0, 1.0, null, 1.0, 1.0, 1.0, 1.0], iicP999: 3200, rawP999: 2000, p999Ratios: p999Ratios);
        iic = iic with { RoundProbeNs = [120, 120, 120, 120, 120, 120, 500, 500, 500, 500, 500], RoundP50Ns = [156, 156, 156, 156, 156, null, 650, 650, 650, 650] };

        var line = Rows.TargetLine(ReceiveP999, iic, raw);
        var lines = Rows.Report(iic, raw).Split('\n');

        Assert.Contains("median of 9 interleaved rounds' ratios, 1 of 10 dropped: probes disagreed [95 % CI]", line, StringComparison.Ordinal);
        Assert.Contains("1.20x [1.20-1.30]", line, StringComparison.Ordinal);
        Assert.Contains("met (the whole 95 % interval within the limit)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("1.60x", line, StringComparison.Ordinal);
        // Each placement's rounds apart, right under the p99.9 line (the p50 and p99 lines have their own).
        var at = Array.FindIndex(lines, l => l.StartsWith(ReceiveP999, StringComparison.Ordinal));
        Assert.StartsWith($"  of which on the {Placement.Far} placement, median of 4 rounds' ratios [95 % CI]", lines[at + 1], StringComparison.Ordinal);
        Assert.Contains("1.30x [1.30-1.30]", lines[at + 1], StringComparison.Ordinal);
        Assert.StartsWith($"  of which on the {Placement.Near} placement, median of 5 rounds' ratios [95 % CI]", lines[at + 2], StringComparison.Ordinal);
        Assert.Contains("1.20x [1.20-1.20]", lines[at + 2], StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_OfAPairWhosePooledP50LooksLikeAnotherPlacement_AreStillJudged()
    {
        // Under load iic's pooled p50 (500 ns) is far above its rounds' probe (130): the row is marked FLIP. Its rounds'
        // probes agreed round by round, so its lines judge it (round 19's first default run said "not comparable").
        var (iic, raw) = Rows.InterleavedPingPong("poll-claim", Rows.Same(10, 1.0), iicP50: 500, iicP999: 2000, rawP999: 1000);
        var (receive, rawReceive) = Rows.InterleavedPingPong("receive", Rows.Same(10, 1.0), iicP50: 500, iicP999: 2000, rawP999: 1000);
        Assert.True(iic.ProbeMoved);

        var probe = Rows.TargetLine(ClaimP50, iic, raw, receive, rawReceive);
        var p999 = Rows.TargetLine(ReceiveP999, iic, raw, receive, rawReceive);

        Assert.Contains("3.85x [3.85-3.85]  MISSED by 234", probe, StringComparison.Ordinal);
        Assert.Contains("2.00x [2.00-2.00]  MISSED by 33.3 %", p999, StringComparison.Ordinal);
        // Every block 3.85x its probe reads as flipped: too many to leave out (round 22), so they are counted, and say so.
        Assert.Contains("median of 10 interleaved rounds' ratios to the probe before each, 10 flipped: counted, too many to leave out", probe, StringComparison.Ordinal);
    }

    [Fact]
    public void ARoundWhoseIicBlockFlipped_IsLeftOutOfTheRatios_AndTheLinesSaySo()
    {
        // Round 3's iic block ran far (520 ns, 4x the probe of 130) between two near probes; raw-shm's block of that round
        // stayed near, so its ratio (3.47x) divides two placements, and its ratio to the probe (4.0x) is no near round's.
        // Round 21 counted both (and marked the row FLIP, dropping it as the reference); since round 22 the round is left
        // out and the row stays compared.
        double?[] ratios = [1.07, 1.07, 1.07, 3.47, 1.07, 1.07, 1.07, 1.07, 1.07, 1.07];
        var (iic, raw) = Rows.InterleavedPingPong("poll-claim", ratios, iicP50: 150);
        iic = WithBlockP50s(iic, [150, 150, 150, 520, 150, 150, 150, 150, 150, 150]);

        var likeForLike = Rows.TargetLine(ClaimLikeForLike, iic, raw);
        var probe = Rows.TargetLine(ClaimP50, iic, raw);

        Assert.False(iic.ProbeMoved);
        Assert.Contains("median of 9 interleaved rounds' ratios, 1 flipped: left out [95 % CI]", likeForLike, StringComparison.Ordinal);
        Assert.Contains("1.07x [1.07-1.07]", likeForLike, StringComparison.Ordinal);
        Assert.Contains("median of 9 interleaved rounds' ratios to the probe before each, 1 flipped: left out, all on the near placement [95 % CI]", probe, StringComparison.Ordinal);
        Assert.Contains("1.15x [1.15-1.15]", probe, StringComparison.Ordinal);
    }

    [Fact]
    public void ARoundWhoseRawShmBlockFlipped_IsLeftOutOfTheRatioToRawShm_NotOfTheRatioToTheProbe()
    {
        // Round 5's raw-shm block ran far (520 ns) between two near probes: iic's ratio to it (0.29x) divides two
        // placements; iic's own block of that round, over its probe, is a near round like the others.
        double?[] ratios = [1.07, 1.07, 1.07, 1.07, 1.07, 0.29, 1.07, 1.07, 1.07, 1.07];
        var (iic, raw) = Rows.InterleavedPingPong("poll-claim", ratios, iicP50: 150);
        raw = Placement.JudgedByRounds(raw with { RoundProbeNs = iic.RoundProbeNs, RoundP50Ns = [140, 140, 140, 140, 140, 520, 140, 140, 140, 140] });

        var likeForLike = Rows.TargetLine(ClaimLikeForLike, iic, raw);
        var probe = Rows.TargetLine(ClaimP50, iic, raw);

        Assert.False(raw.ProbeMoved);
        Assert.Contains("median of 9 interleaved rounds' ratios, 1 flipped: left out [95 % CI]", likeForLike, StringComparison.Ordinal);
        Assert.Contains("median of 10 interleaved rounds' ratios to the probe before each, all on the near placement [95 % CI]", probe, StringComparison.Ordinal);
    }

    [Fact]
    public void SpanAndThePerPlacementLines_FollowOneRule_SiblingAndNearRoundsAreBoth()
    {
        // Five sibling rounds (85 ns), one from siblings to near, four near ones (120 ns), all kept (within 1.5x). The
        // targets give the sibling and the near rounds a line each; round 21 left the row unmarked (its SPAN took the
        // 1.5x tolerance), so a row whose targets said "two placements" was compared as one.
        var (iic, raw) = Rows.InterleavedPingPong("receive", Rows.Same(10, 1.0), iicP50: 130);
        iic = Placement.JudgedByRounds(iic with { RoundProbeNs = [85, 85, 85, 85, 85, 85, 120, 120, 120, 120, 120] });

        var report = Rows.Report(iic, raw);

        Assert.Contains($"  of which on the {Placement.Sibling} placement, median of 5 rounds' ratios [95 % CI]", report, StringComparison.Ordinal);
        Assert.Contains($"  of which on the {Placement.Near} placement, median of 4 rounds' ratios [95 % CI]", report, StringComparison.Ordinal);
        Assert.True(iic.ProbeMoved);
        Assert.Equal("85-120 SPAN", Placement.Text(iic));
    }

    /// <summary>
    /// <paramref name="iic"/> whose kept rounds' blocks read <paramref name="p50s"/>, its ratios to the probe before each
    /// round and its placement mark computed from them as the harness does.
    /// </summary>
    private static BenchResult WithBlockP50s(BenchResult iic, long?[] p50s)
        => Placement.JudgedByRounds(iic with { RoundP50Ns = p50s, RoundProbeRatios = RoundStatistics.ByRound(p50s, iic.RoundProbeNs!) });

    [Fact]
    public void P999_WithNoKeptRound_IsUndecided()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", new double?[10]);

        Assert.Contains("undecided: no kept round", Rows.TargetLine(ReceiveP999, iic, raw), StringComparison.Ordinal);
    }

    [Fact]
    public void PollClaim_LikeForLike_IsJudgedByTheRounds_AndTheProbeTargetsSayWhichProbe()
    {
        var (iic, raw) = Rows.InterleavedPingPong("poll-claim", Rows.Same(10, 1.05), iicP50: 140, probe: 130);

        var likeForLike = Rows.TargetLine(ClaimLikeForLike, iic, raw);
        var probe = Rows.TargetLine(ClaimP50, iic, raw);

        Assert.Contains("median of 10 interleaved rounds' ratios", likeForLike, StringComparison.Ordinal);
        Assert.Contains("met (", likeForLike, StringComparison.Ordinal);
        Assert.Contains("median of 10 interleaved rounds' ratios to the probe before each, all on the near placement [95 % CI]", probe, StringComparison.Ordinal);
        Assert.Contains("1.08x [1.08-1.08]", probe, StringComparison.Ordinal); // 140 ns over each round's 130
        Assert.DoesNotContain("of which on the", Rows.Report(iic, raw), StringComparison.Ordinal); // one placement: no split
    }

    [Fact]
    public void ProbeP50_IsJudgedRoundByRound_NotThePooledRowOverTheMedianProbe_WhenRoundsSpanNearAndFar()
    {
        // Four near rounds (probe 120 ns), one dropped as the host moved, five far ones (500 ns); iic's block reads 1.3x
        // its own round's probe on both. A near block holds ~4x the round trips of a far one, so the pooled p50 is a near
        // one (156), while the median probe of the nine kept rounds is a far one (500): the old line read 0.31x, "met".
        long[] probes = [120, 120, 120, 120, 120, 500, 500, 500, 500, 500, 500];
        long[] probeP99s = [.. probes.Select(p => 2 * p)];
        long?[] p50s = [156, 156, 156, 156, null, 650, 650, 650, 650, 650];
        long?[] p99s = [.. p50s.Select(p => p * 2)];
        var (iic, raw) = Rows.InterleavedPollClaimRounds(probes, probeP99s, p50s, p99s, pooledP50: 156, pooledP99: 1300);
        Assert.Equal(500, iic.ProbeNsBefore); // the median the old line divided by

        var line = Rows.TargetLine(ClaimP50, iic, raw);
        var report = Rows.Report(iic, raw);

        Assert.Contains("median of 9 interleaved rounds' ratios to the probe before each, 1 of 10 dropped: probes disagreed, rounds: 5 far, 4 near [95 % CI]", line, StringComparison.Ordinal);
        Assert.Contains("1.30x [1.30-1.30]", line, StringComparison.Ordinal);
        Assert.Contains("MISSED by 13 % or more (the whole 95 % interval above)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("0.31x", line, StringComparison.Ordinal);
        // Each placement's rounds apart, judged alike (too few of either for a verdict of its own).
        Assert.Contains($"  of which on the {Placement.Near} placement, median of 4 rounds' ratios to their probe [95 % CI]", report, StringComparison.Ordinal);
        Assert.Contains($"  of which on the {Placement.Far} placement, median of 5 rounds' ratios to their probe [95 % CI]", report, StringComparison.Ordinal);
        Assert.Contains("undecided: 4 kept rounds, at least 6 needed", report, StringComparison.Ordinal);
    }

    [Fact]
    public void ProbeP99_IsJudgedRoundByRound_NotAFarTailOverANearMedianProbe()
    {
        // Six near rounds, one dropped, three far; every block's p99 is 1.2x its round's probe p99. The far blocks hold
        // over 1 % of the pooled round trips, so the pooled p99 is in the far tail (1100) while the median probe p99 is
        // the near one (250): the old line read 4.40x, MISSED.
        long[] probes = [120, 120, 120, 120, 120, 120, 120, 500, 500, 500, 500];
        long[] probeP99s = [250, 250, 250, 250, 250, 250, 250, 1000, 1000, 1000, 1000];
        long?[] p50s = [130, 130, 130, 130, 130, 130, null, 540, 540, 540];
        long?[] p99s = [300, 300, 300, 300, 300, 300, null, 1200, 1200, 1200];
        var (iic, raw) = Rows.InterleavedPollClaimRounds(probes, probeP99s, p50s, p99s, pooledP50: 135, pooledP99: 1100);
        Assert.Equal(250, iic.ProbeP99NsBefore);

        var line = Rows.TargetLine(ClaimP99, iic, raw);
        var report = Rows.Report(iic, raw);

        Assert.Contains("1.20x [1.20-1.20]", line, StringComparison.Ordinal);
        Assert.Contains("rounds: 3 far, 6 near", line, StringComparison.Ordinal);
        Assert.Contains("met (the whole 95 % interval within the limit)", line, StringComparison.Ordinal);
        Assert.Contains($"  of which on the {Placement.Near} placement, median of 6 rounds' ratios to their probe [95 % CI]", report, StringComparison.Ordinal);
        Assert.Contains($"  of which on the {Placement.Far} placement, median of 3 rounds' ratios to their probe [95 % CI]", report, StringComparison.Ordinal);
    }

    [Fact]
    public void SendReceive_RoundsOnNearAndFar_GetALinePerPlacement_UnderTheVerdictOfAllOfThem()
    {
        // Six near rounds at 1.0x raw-shm, one dropped as the host moved the vCPUs, six far ones at 1.3x: each round is
        // within one placement, their median mixes two. The verdict stays the median of all; each placement's rounds are
        // judged apart below it (round 20).
        double?[] ratios = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, null, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3];
        var (iic, raw) = Rows.InterleavedPingPong("receive", ratios, p999Ratios: ratios);
        iic = iic with { RoundProbeNs = [120, 120, 120, 120, 120, 120, 120, 500, 500, 500, 500, 500, 500, 500], RoundP50Ns = [156, 156, 156, 156, 156, 156, null, 650, 650, 650, 650, 650, 650] };

        var lines = Rows.Report(iic, raw).Split('\n');

        Assert.Contains(lines, l => l.StartsWith(ReceiveP50 + ", median of 12 interleaved rounds' ratios, 1 of 13 dropped", StringComparison.Ordinal) && l.Contains("undecided", StringComparison.Ordinal));
        var near = lines.Where(l => l.StartsWith($"  of which on the {Placement.Near} placement, median of 6 rounds' ratios [95 % CI]", StringComparison.Ordinal)).ToList();
        var far = lines.Where(l => l.StartsWith($"  of which on the {Placement.Far} placement, median of 6 rounds' ratios [95 % CI]", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, near.Count); // p50, p99 and p99.9 (since round 21; the rows' p99 and p99.9 ratios are their p50 ones here)
        Assert.Equal(3, far.Count);
        Assert.All(near, l => Assert.Contains("1.00x [1.00-1.00]  met (", l, StringComparison.Ordinal));
        Assert.All(far, l => Assert.Contains("1.30x [1.30-1.30]", l, StringComparison.Ordinal));
        Assert.Equal(2, far.Count(l => l.Contains("  MISSED", StringComparison.Ordinal))); // p50 and p99 (limit 1.1x); p99.9's limit is 1.5x
    }

    [Fact]
    public void SendReceive_RoundsOnOnePlacement_GetNoPlacementLines()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", Rows.Same(10, 1.0));

        Assert.DoesNotContain("of which on the", Rows.Report(iic, raw), StringComparison.Ordinal);
    }

    [Fact]
    public void ProbeTargets_OfARunWithoutAProbe_AreLeftOut()
    {
        var (iic, raw) = Rows.InterleavedPingPong("poll-claim", Rows.Same(10, 1.0));
        // What the harness makes when the probe child could not start: no probe fields at all, and no ratios to it.
        iic = iic with { ProbeNsBefore = null, ProbeNsAfter = null, ProbeP99NsBefore = null, ProbeP99NsAfter = null, ProbeMoved = null, RoundProbeNs = null, RoundProbeP99Ns = null, RoundProbeRatios = null, RoundProbeP99Ratios = null };

        var report = Rows.Report(iic, raw);

        Assert.DoesNotContain(ClaimP50, report, StringComparison.Ordinal);
        Assert.Contains(ClaimLikeForLike, report, StringComparison.Ordinal);
    }

    [Fact]
    public void RowsMeasuredOneAfterTheOther_AreStillJudgedByTheirPercentiles_AndOnlyOnOnePlacement()
    {
        var iic = Rows.PingPong("iic", "receive", 150, 130, 130);
        var sameProbe = Rows.PingPong("raw-shm", "receive", 140, 130, 135);
        var otherProbe = Rows.PingPong("raw-shm", "receive", 500, 480, 490);

        var line = Rows.TargetLine(ReceiveP50, iic, sameProbe);

        Assert.DoesNotContain("interleaved", line, StringComparison.Ordinal);
        Assert.Contains("1.07x", line, StringComparison.Ordinal);
        Assert.Contains("not comparable: the rows' placement probes differ", Rows.TargetLine(ReceiveP50, iic, otherProbe), StringComparison.Ordinal);
    }
}
