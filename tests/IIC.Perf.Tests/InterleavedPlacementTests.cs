using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Results;
using IIC.Perf.Transports.Iic;
using IIC.Perf.Transports.RawShm;

namespace IIC.Perf.Tests;

/// <summary>
/// The placement mark of a row measured in interleaved rounds (round 21, Results/Placement.Rounds.cs), as the harness
/// makes it (PairRounds.WithRounds over the rounds' probes): judged round by round, not by the median of the kept
/// rounds' probes. A row whose kept rounds ran on near and far placements says SPAN and is compared with nothing; a
/// round whose block's p50 belongs to another placement than its own probes makes the row FLIP; no kept round is MOVED.
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
    public void OnePlacement_WithOneBlockOnTheOther_IsFlip_EvenWhenThePooledP50IsAtHome()
    {
        // Ten near rounds; round 3's block ran far (520 ns) between two near probes. The pooled p50 (150) is at home, so
        // the old mark, judged on it, compared the row with others.
        var probes = Enumerable.Repeat(130L, 11).ToArray();
        var row = Pair(probes, Ping(150)).WithRounds(0, Ping(150, [150, 150, 520, 150, 150, 150, 150, 150, 150, 150]));

        Assert.True(row.ProbeMoved);
        Assert.Equal("130/130 FLIP 1/10", Placement.Text(row));
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
