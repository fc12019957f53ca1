using System.Text.Json;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Results;
using IIC.Perf.Transports.Iic;
using IIC.Perf.Transports.RawShm;

namespace IIC.Perf.Tests;

/// <summary>
/// The placement mark of a row measured in interleaved rounds (round 21, Results/Placement.Rounds.cs), as the harness
/// makes it (PairRounds.WithRounds over the rounds' probes): judged round by round, not by the median of the kept
/// rounds' probes. A row whose kept rounds ran on more than one placement kind says SPAN and is compared with nothing
/// (round 22: by kind, as the targets split them); a round whose block's p50 belongs to another placement than the
/// probe before it is left out, and makes the row FLIP only when fewer than six rounds are left (round 22); no kept
/// round is MOVED.
/// </summary>
public sealed class InterleavedPlacementTests
{
    private const long Near = 120;
    private const long Far = 500;

    [Fact]
    public void RoundsOnNearAndFar_WhoseMedianProbesAgreeWithThePooledP50_AreMarkedSpan_NotComparedAsNear()
    {
        // Five near rounds, one dropped as the host moved, four far ones; every block 1.3x its own round's probe. The
        // medians of the kept rounds' probes are near (120) and the pooled p50 near-dominated (156): the old mark let
        // this mix of near and far blocks pass as a near row and be compared with near rows.
        var row = Pair([Near, Near, Near, Near, Near, Near, Far, Far, Far, Far, Far], Ping(156)).WithRounds(0, Ping(156, [156, 156, 156, 156, 156, null, 650, 650, 650, 650]));

        Assert.Equal(Near, row.ProbeNsBefore); // the JSON's probe fields stay the medians
        Assert.True(row.ProbeMoved);
        Assert.Equal($"{Near}-{Far} SPAN", Placement.Text(row));
        Assert.False(Placement.Same(row, Rows.PingPong("iic", "receive", 150, Near, Near)));
    }

    [Fact]
    public void RoundsOnNearAndFar_WhosePooledP50IsBelowTheFarMedianProbe_AreSpan_NotFlip()
    {
        // Four near rounds, one dropped, five far ones, every block 1.3x its own probe. The median probe is far (500),
        // the pooled p50 near (156, a near block holds ~4x the round trips of a far one): the old mark said FLIP ("the
        // host moved the CPUs and back within the row"), which no block did.
        var row = Pair([Near, Near, Near, Near, Near, Far, Far, Far, Far, Far, Far], Ping(156)).WithRounds(0, Ping(156, [156, 156, 156, 156, null, 650, 650, 650, 650, 650]));

        Assert.True(row.ProbeMoved);
        Assert.Equal($"{Near}-{Far} SPAN", Placement.Text(row));
    }

    [Fact]
    public void OnePlacement_WithOneBlockOnTheOther_LeavesThatRoundOut_AndTheRowStaysCompared()
    {
        // Ten near rounds; round 3's block ran far (520 ns) between two near probes. Round 21 marked the whole row FLIP
        // for it (on a loaded machine the 32 B rows then dropped out as the reference); since round 22 the round is left
        // out of the pair's ratios and the row, its other nine rounds on their placement, stays compared.
        var probes = Enumerable.Repeat(130L, 11).ToArray();
        var row = Pair(probes, Ping(150)).WithRounds(0, Ping(150, [150, 150, 520, 150, 150, 150, 150, 150, 150, 150]));

        Assert.False(row.ProbeMoved);
        Assert.Equal("130/130 1/10 flipped", Placement.Text(row));
        Assert.True(Placement.Same(row, Rows.PingPong("iic", "receive", 150, 130, 135)));
        Assert.Equal(1, row.RoundsFlipped);
    }

    [Fact]
    public void PooledFigures_LeaveOutTheFlippedRoundsTheTargetsLeaveOut_AndTheDroppedOnes()
    {
        // Round 22: a row's pooled percentiles (its p50_ns, p99_ns, the "p50 vs" column) pooled every kept round, the
        // flipped ones too, which its target lines leave out. Round 2's block ran far; round 5 was dropped (its probes
        // disagree): the pooled figures take the other eight.
        var probes = new long[] { 130, 130, 130, 130, 130, 130, 400, 130, 130, 130, 130 };
        var rounds = Pair(probes, Ping(150));
        var row = rounds.WithRounds(0, Ping(150, [150, 150, 520, 150, 150, null, null, 150, 150, 150]));

        Assert.Equal([0, 1, 3, 4, 7, 8, 9], Placement.PooledRounds(row, rounds.KeptRounds, rounds.Count));
        Assert.Equal([0, 1, 2, 3, 4, 7, 8, 9], rounds.KeptRounds);
    }

    [Fact]
    public void PooledFigures_OfARowMarkedFlip_KeepItsFlippedRounds_AndOfARowWithNoRoundKept_TakeThemAll()
    {
        var probes = Enumerable.Repeat(130L, 11).ToArray();
        var rounds = Pair(probes, Ping(150));
        var flip = rounds.WithRounds(0, Ping(150, [520, 520, 520, 520, 520, 150, 150, 150, 150, 150])); // FLIP 5/10: counted as measured
        Assert.Equal(rounds.KeptRounds, Placement.PooledRounds(flip, rounds.KeptRounds, rounds.Count));

        var moved = new long[] { 130, 520, 130, 520, 130, 520, 130, 520, 130, 520, 130 };
        var movedRounds = Pair(moved, Ping(150));
        var none = movedRounds.WithRounds(0, Ping(150, new long?[10]));
        Assert.Empty(movedRounds.KeptRounds);
        Assert.Equal(Enumerable.Range(0, 10), Placement.PooledRounds(none, movedRounds.KeptRounds, movedRounds.Count));
    }

    [Theory]
    [InlineData(4, false, "130/130 4/10 flipped")] // six rounds left: enough for a verdict of their own
    [InlineData(5, true, "130/130 FLIP 5/10")] // five left: too few (Placement.MinUnflippedRounds), the row is marked
    public void FlippedRounds_MarkTheRow_OnlyWhenFewerThanSixRoundsAreLeft(int flips, bool marked, string text)
    {
        var probes = Enumerable.Repeat(130L, 11).ToArray();
        var p50s = Enumerable.Range(0, 10).Select(r => (long?)(r < flips ? 520 : 150)).ToArray();

        var row = Pair(probes, Ping(150)).WithRounds(0, Ping(150, p50s));

        Assert.Equal(marked, row.ProbeMoved);
        Assert.Equal(text, Placement.Text(row));
        Assert.Equal(flips, row.RoundsFlipped);
    }

    [Fact]
    public void RoundsFlipped_IsWrittenToTheJson_AndThePlacementFieldsKeepTheirNames()
    {
        var probes = Enumerable.Repeat(130L, 11).ToArray();
        var row = Pair(probes, Ping(150)).WithRounds(0, Ping(150, [150, 150, 520, 150, 150, 150, 150, 150, 150, 150]));

        var json = JsonSerializer.Serialize(row, PerfJson.Default.BenchResult);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;

        Assert.Equal(1, root.GetProperty("rounds_flipped").GetInt32());
        Assert.False(root.GetProperty("probe_moved").GetBoolean());
        Assert.Equal(11, root.GetProperty("round_probe_ns").GetArrayLength());
    }

    [Fact]
    public void ABlock_IsCheckedAgainstTheProbeBeforeItsRound_TheBaseOfItsProbeRatio_NotTheMeanOfItsTwoProbes()
    {
        // Round 3 runs between probes of 100 and 145 (they agree, both near) and its block reads 260: 2.6x the probe
        // before it, the ratio its probe target takes (round_probe_ratios), but 2.1x the mean of its two probes, which
        // round 21's mark used. Round 6, between 140 and 100, reads 95: 0.68x the probe before it, 0.79x the mean.
        long[] probes = [130, 130, 130, 100, 145, 130, 140, 100, 130, 130, 130];
        long?[] p50s = [150, 150, 150, 260, 150, 150, 95, 150, 150, 150];

        var row = Pair(probes, Ping(150)).WithRounds(0, Ping(150, p50s));
        var probeRatios = RoundStatistics.ByRound(p50s, [.. probes.Select(p => (long?)p)]);

        Assert.Equal("130/130 2/10 flipped", Placement.Text(row));
        // One base: the rounds marked flipped are the rounds whose probe ratio is outside 0.7-2.5x.
        Assert.Equal(probeRatios.Count(r => r is < Placement.FlipLow or > Placement.FlipHigh), row.RoundsFlipped);
    }

    [Fact]
    public void RoundsOnSiblingAndNear_WithinTheTolerance_AreSpan_AsTheirTargetsGiveEachPlacementApart()
    {
        // Five sibling rounds (85 ns), one from siblings to near, four near ones (120 ns): every round kept, its probes
        // within 1.5x, so round 21's SPAN (the kept rounds' probes more than 1.5x apart) left the row unmarked while its
        // targets gave the sibling and near rounds a line each (Placement.Kind).
        var row = Pair([85, 85, 85, 85, 85, 85, 120, 120, 120, 120, 120], Ping(130)).WithRounds(0, Ping(130, [110, 110, 110, 110, 110, 130, 156, 156, 156, 156]));

        Assert.True(row.ProbeMoved);
        Assert.Equal("85-120 SPAN", Placement.Text(row));
        Assert.Equal([Placement.Sibling, Placement.Near], Placement.RoundKinds(row.RoundProbeNs!, 10).OfType<string>().Distinct());
    }

    [Fact]
    public void RoundsOnOneKind_MoreThanTheToleranceApart_AreNotSpan_AsTheirTargetsKeepThemTogether()
    {
        // Near rounds whose probes drift from 110 to 200 ns (each round's two within 1.5x, 1.8x end to end): one
        // placement kind, one target line, but round 21 marked the row SPAN and compared it with nothing.
        var row = Pair([110, 110, 110, 110, 110, 150, 200, 200, 200, 200, 200], Ping(180)).WithRounds(0, Ping(180, [140, 140, 140, 140, 140, 195, 260, 260, 260, 260]));

        Assert.False(row.ProbeMoved);
        Assert.DoesNotContain("SPAN", Placement.Text(row), StringComparison.Ordinal);
        Assert.Equal(0, row.RoundsFlipped);
    }

    [Fact]
    public void OnePlacement_EveryBlockAtHome_IsNotMarked()
    {
        long[] probes = [130, 135, 130, 140, 130, 130, 135, 130, 130, 130, 130];
        var row = Pair(probes, Ping(150)).WithRounds(0, Ping(150, [150, 150, 160, 150, 150, 150, 150, 150, 150, 150]));

        Assert.False(row.ProbeMoved);
        Assert.Equal("130/130", Placement.Text(row));
        Assert.True(Placement.Same(row, Rows.PingPong("iic", "receive", 150, 130, 135)));
    }

    [Fact]
    public void NoRoundKept_IsMoved_EvenWhenTheFirstAndLastProbesAgree()
    {
        // The host moved the vCPUs in every round and was back on near by the last probe: every round dropped. The old
        // mark compared the first and last probes (120/120) and the pooled p50 of all rounds with them: not marked.
        var row = Pair([Near, Far, Near, Far, Near, Far, Near, Far, Near, Far, Near], Ping(150)).WithRounds(0, Ping(150, new long?[10]));

        Assert.True(row.ProbeMoved);
        Assert.Equal($"{Near}/{Near} MOVED", Placement.Text(row));
    }

    [Fact]
    public void OneWayRows_OnNearAndFar_AreSpanToo()
    {
        var oneWay = new BenchResult { Test = "throughput", Transport = "iic", Mode = "spin", Api = "poll", Size = 32, MsgsPerS = 20_000_000 };

        var row = Pair([Near, Near, Near, Near, Near, Near, Far, Far, Far, Far, Far], oneWay).WithRounds(0, oneWay);

        Assert.True(row.ProbeMoved);
        Assert.Equal($"{Near}-{Far} SPAN", Placement.Text(row));
    }

    /// <summary>A spinning 32 B ping-pong row with a pooled p50 and, when given, each round's block p50 (null: a dropped round).</summary>
    private static BenchResult Ping(long pooledP50, long?[]? roundP50s = null)
        => new() { Test = "pingpong", Transport = "iic", Mode = "spin", Api = "receive", Size = 32, Count = 1000, P50Ns = pooledP50, P99Ns = 2 * pooledP50, RoundP50Ns = roundP50s };

    /// <summary>
    /// The rounds of an iic and raw-shm pair whose probes read <paramref name="probeP50s"/> before each round and after
    /// the last (p99 twice the p50); a round is kept when its two probes agree, as InterleavedPair keeps it.
    /// </summary>
    private static PairRounds Pair(long[] probeP50s, BenchResult like)
    {
        var link = new LinkOptions(like.Test == "pingpong" ? BenchTest.PingPong : BenchTest.Throughput, like.Mode, like.Size, like.Test == "pingpong" ? ReceiveApi.Receive : ReceiveApi.Poll);
        var driver = new DriverSettings(WarmupS: 0.1, DurationS: 0.5, Count: 0, GapMinUs: 0, GapMaxUs: 0, IdleS: 0);
        var kept = Enumerable.Range(0, probeP50s.Length - 1).Select(r => Placement.Agree(probeP50s[r], probeP50s[r + 1])).ToArray();
        var probes = probeP50s.Select(p => ((long P50Ns, long P99Ns)?)(p, 2 * p)).ToArray();
        return new PairRounds(new MeasurementPlan(new IicTransport(), link, driver), new MeasurementPlan(new RawShmTransport(park: false), link, driver), [], kept, probes, Probing: true);
    }
}
