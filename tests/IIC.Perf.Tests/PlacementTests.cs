using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>Placement classification (Results/Placement.cs): the host flips vCPU placement (probe near 110-150 ns, far 450-600 ns, SMT siblings about 80 ns).</summary>
public sealed class PlacementTests
{
    // A parking row: its p50 is no multiple of the probe, so only its probes decide (the spinning rows' FLIP check has tests of its own).
    private static readonly BenchResult s_row = new() { Test = "pingpong", Transport = "iic", Mode = "park", Api = "receive", Size = 32, P50Ns = 50_000 };

    [Theory]
    [InlineData(125, 135, false)] // near throughout
    [InlineData(480, 590, false)] // far throughout
    [InlineData(110, 150, false)]
    [InlineData(125, 500, true)] // near, then far: the host moved the CPUs during the row
    [InlineData(600, 130, true)]
    [InlineData(100, 151, true)] // just past the tolerance (1.5x)
    [InlineData(100, 150, false)] // at it
    public void WithProbes_MarksARowMoved_WhenItsProbesDisagree(long before, long after, bool moved)
    {
        var row = Placement.WithProbes(s_row, (before, before * 2), (after, after * 2), probing: true);

        Assert.Equal(moved, row.ProbeMoved);
        Assert.Equal(before, row.ProbeNsBefore);
        Assert.Equal(after, row.ProbeNsAfter);
        Assert.Equal(before * 2, row.ProbeP99NsBefore);
        Assert.Equal(after * 2, row.ProbeP99NsAfter);
        Assert.Equal(moved ? (double?)null : (before + after) / 2.0, row.Placement);
        Assert.Equal($"{before}/{after}{(moved ? " MOVED" : "")}", Placement.Text(row));
    }

    [Fact]
    public void WithProbes_AMissingProbe_IsAMove_AndOnlyARunWithoutAProbe_LeavesTheRowAlone()
    {
        var half = Placement.WithProbes(s_row, (125, 250), null, probing: true);
        Assert.True(half.ProbeMoved);
        Assert.Null(half.ProbeNsAfter);
        Assert.Equal("125/? MOVED", Placement.Text(half));

        // A run without a probe (it could not start) leaves its rows unprobed: compared on trust.
        var none = Placement.WithProbes(s_row, null, null, probing: false);
        Assert.Same(s_row, none);
        Assert.Null(none.ProbeMoved);
        Assert.Equal("-", Placement.Text(none));

        // A probing run whose probes both went unanswered: moved, so the row is compared with nothing.
        var unanswered = Placement.WithProbes(s_row, null, null, probing: true);
        Assert.True(unanswered.ProbeMoved);
        Assert.Null(unanswered.ProbeNsBefore);
        Assert.Null(unanswered.ProbeNsAfter);
        Assert.Equal("?/? MOVED", Placement.Text(unanswered));
        Assert.False(Placement.Same(unanswered, unanswered));
        Assert.False(Placement.Same(unanswered, Placement.WithProbes(s_row, (125, 250), (126, 250), probing: true)));
    }

    [Fact]
    public void Same_ComparesRowsOnOnePlacementOnly()
    {
        var near = Placement.WithProbes(s_row, (120, 240), (130, 260), probing: true);
        var nearToo = Placement.WithProbes(s_row, (140, 280), (150, 300), probing: true);
        var far = Placement.WithProbes(s_row, (500, 1000), (560, 1100), probing: true);
        var moved = Placement.WithProbes(s_row, (125, 250), (520, 1000), probing: true);

        Assert.True(Placement.Same(near, nearToo));
        Assert.True(Placement.Same(far, far));
        Assert.False(Placement.Same(near, far));
        Assert.False(Placement.Same(near, moved)); // a moved row is compared with nothing
        Assert.False(Placement.Same(moved, moved));
        Assert.False(Placement.Same(near, null));
        Assert.True(Placement.Same(s_row, s_row)); // neither probed: compared on trust
        Assert.False(Placement.Same(s_row, near)); // one probed, one not: no
    }

    [Theory]
    [InlineData(70, Placement.Sibling)]
    [InlineData(80, Placement.Sibling)]
    [InlineData(90, Placement.Sibling)]
    [InlineData(100, Placement.Near)]
    [InlineData(130, Placement.Near)]
    [InlineData(290, Placement.Near)]
    [InlineData(300, Placement.Far)]
    [InlineData(520, Placement.Far)]
    public void Kind_NamesTheHostsThreePlacements(long probeP50Ns, string kind)
        => Assert.Equal(kind, Placement.Kind(probeP50Ns));

    [Fact]
    public void RoundKinds_NameARoundOnlyWhenBothItsProbesAgreeOnTheKind()
    {
        // Probes before rounds 0-4 and after the last: sibling, sibling, near (round 1 straddles), near, unanswered, far.
        long?[] probes = [80, 80, 120, 130, null, 520];

        var kinds = Placement.RoundKinds(probes, rounds: 5);

        Assert.Equal([Placement.Sibling, null, Placement.Near, null, null], kinds);
        Assert.Equal([Placement.Sibling, null], Placement.RoundKinds(probes.Take(2).ToList(), rounds: 2)); // no probe after round 1
    }

    [Theory]
    [InlineData("spin", 32, 170, false)] // 1.2x: a near round trip
    [InlineData("adaptive", 32, 250, false)] // 1.8x: adaptive's cost, still this placement
    [InlineData("spin", 32, 550, true)] // 4x a near probe: it ran far between two near probes
    [InlineData("spinpark", 32, 80, true)] // under 0.7x: faster than the floor can be on this placement
    [InlineData("park", 32, 50_000, false)] // a parking row sleeps per round trip: not a multiple of the probe
    [InlineData("spin", 4096, 550, false)] // 4 KiB costs several probes on its own placement
    public void WithProbes_MarksASpinningSmallRoundTripFlipped_WhenItsP50BelongsToAnotherPlacement(string mode, int size, long p50, bool flipped)
    {
        var row = s_row with { Mode = mode, Size = size, P50Ns = p50 };

        var probed = Placement.WithProbes(row, (130, 260), (150, 300), probing: true);

        Assert.Equal(flipped, probed.ProbeMoved);
        Assert.Equal(flipped ? "130/150 FLIP" : "130/150", Placement.Text(probed));
        Assert.Equal(!flipped, Placement.Same(probed, Placement.WithProbes(s_row, (135, 270), (140, 280), probing: true)));
    }

    [Fact]
    public void WithProbes_LeavesOtherTests_AndFarRoundTripsUnderFarProbes_Alone()
    {
        var far = Placement.WithProbes(s_row with { Mode = "spin", P50Ns = 560 }, (490, 980), (510, 1020), probing: true);
        Assert.False(far.ProbeMoved);

        var oneWay = Placement.WithProbes(s_row with { Test = "throughput", P50Ns = null, MsgsPerS = 50_000_000 }, (130, 260), (150, 300), probing: true);
        Assert.False(oneWay.ProbeMoved);

        var movedAndFar = Placement.WithProbes(s_row with { Mode = "spin", P50Ns = 560 }, (130, 260), (510, 1020), probing: true);
        Assert.Equal("130/510 MOVED", Placement.Text(movedAndFar)); // probes that disagree say MOVED, not FLIP
    }
}
