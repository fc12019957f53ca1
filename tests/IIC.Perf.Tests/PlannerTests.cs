using IIC.Perf.Cli;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Transports.Iic;
using IIC.Perf.Transports.RawShm;

namespace IIC.Perf.Tests;

/// <summary>
/// Which rows the main job measures interleaved (Harness/BenchPlanner.cs): since round 19 the 32 B ping-pong rows of
/// iic (spin) and raw-shm, one pair per echo API, unless the switch (<c>IIC_PERF_PINGPONG_INTERLEAVED=0</c>, here
/// <see cref="BenchOptions.PingPongInterleaved"/>) is off, raw-shm is not in the run, or the run counts round trips.
/// </summary>
public sealed class PlannerTests
{
    private static readonly IBenchTransport[] s_iicAndRaw = [new IicTransport(), new RawShmTransport(park: false)];

    private static readonly BenchOptions s_pingPong = new() { Tests = [BenchTest.PingPong] };

    [Fact]
    public void PingPong32B_IicSpinAndRawShm_ArePlannedAsOnePairPerEchoApi()
    {
        var labels = Labels(s_pingPong, s_iicAndRaw);

        Assert.Contains("pingpong iic spin receive 32 B + raw-shm, interleaved", labels);
        Assert.Contains("pingpong iic spin poll-claim 32 B + raw-shm, interleaved", labels);
        Assert.Contains("pingpong iic spin send-and-receive 32 B + raw-shm, interleaved", labels);
        // Their raw-shm rows are not planned again on their own; the other iic modes and 4 KiB stay one row each.
        Assert.DoesNotContain("pingpong raw-shm spin receive 32 B", labels);
        Assert.DoesNotContain("pingpong raw-shm spin poll-claim 32 B", labels);
        Assert.DoesNotContain("pingpong iic spin receive 32 B", labels);
        Assert.Contains("pingpong iic adaptive receive 32 B", labels);
        Assert.Contains("pingpong iic spin receive 4 KiB", labels);
        Assert.Contains("pingpong raw-shm spin receive 4 KiB", labels);
    }

    [Fact]
    public void PingPong_WithTheSwitchOff_PlansTheRowsOneAfterTheOther()
    {
        var labels = Labels(s_pingPong with { PingPongInterleaved = false }, s_iicAndRaw);

        Assert.DoesNotContain(labels, l => l.Contains("interleaved", StringComparison.Ordinal));
        Assert.Contains("pingpong iic spin receive 32 B", labels);
        Assert.Contains("pingpong raw-shm spin receive 32 B", labels);
        Assert.Contains("pingpong iic spin poll-claim 32 B", labels);
        Assert.Contains("pingpong raw-shm spin poll-claim 32 B", labels);
    }

    [Fact]
    public void PingPong_WithoutRawShm_OrCountingRoundTrips_HasNoPair()
    {
        var iicOnly = Labels(s_pingPong, [new IicTransport()]);
        var counted = Labels(s_pingPong with { Count = 1000 }, s_iicAndRaw);

        Assert.Contains("pingpong iic spin receive 32 B", iicOnly);
        Assert.DoesNotContain(iicOnly, l => l.Contains("interleaved", StringComparison.Ordinal));
        Assert.Contains("pingpong raw-shm spin receive 32 B", counted);
        Assert.DoesNotContain(counted, l => l.Contains("interleaved", StringComparison.Ordinal));
    }

    [Fact]
    public void PingPong_TheApiAsked_IsTheOnlyPair()
    {
        var labels = Labels(s_pingPong with { Apis = [ReceiveApi.PollClaim] }, s_iicAndRaw);

        Assert.Equal(["pingpong iic spin poll-claim 32 B + raw-shm, interleaved"], labels.Where(l => l.Contains("interleaved", StringComparison.Ordinal)));
        Assert.DoesNotContain(labels, l => l.Contains(" receive ", StringComparison.Ordinal));
    }

    [Fact]
    public void SendAndReceive_IsAPingPongApi_NeverAOneWayOne()
    {
        var labels = Labels(new BenchOptions { Tests = [BenchTest.Throughput, BenchTest.PingPong], PingPongInterleaved = false }, s_iicAndRaw);

        Assert.Contains("pingpong iic park send-and-receive 32 B", labels);
        Assert.Contains("pingpong raw-shm spin send-and-receive 4 KiB", labels);
        Assert.DoesNotContain(labels, l => l.StartsWith("throughput", StringComparison.Ordinal) && l.Contains("send-and-receive", StringComparison.Ordinal));
        Assert.Contains(labels, l => l.StartsWith("throughput iic spin receive", StringComparison.Ordinal));
    }

    [Fact]
    public void ScaleRows_MeasureForDuration_WhenGiven_AndTheirShareOfTheDefaultRunOtherwise()
    {
        var scale = new BenchOptions { Tests = [BenchTest.Sizes, BenchTest.FanIn, BenchTest.Connect], SizesGiven = true, Sizes = [4096] };

        foreach (var (options, expectedS) in new[] { (scale with { DurationS = 2 }, 2.0), (scale, scale.ScaleDurationS) })
        {
            var items = BenchPlanner.Expand(options, [new IicTransport()]);
            // The sizes row (iic alone: one measurement, not an interleaved pair) and its memcpy, each fan-in row, each connect kind.
            Assert.Equal(expectedS, Assert.Single(items, item => item.Plan is { Link.Test: BenchTest.Sizes }).Plan!.Driver.DurationS);
            Assert.Equal(expectedS, Assert.Single(items, item => item.Label.StartsWith("sizes memcpy", StringComparison.Ordinal)).LocalDurationS);
            var fanIn = items.Where(item => item.Label.StartsWith("fanin ", StringComparison.Ordinal)).ToList();
            Assert.Equal(options.FanInSenders.Count, fanIn.Count);
            Assert.All(fanIn, item => Assert.Equal(expectedS, item.LocalDurationS));
            var connect = items.Where(item => item.Label.StartsWith("connect ", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(connect);
            Assert.All(connect, item => Assert.Equal(expectedS, item.LocalDurationS));
        }
    }

    private static List<string> Labels(BenchOptions options, IReadOnlyList<IBenchTransport> transports)
        => [.. BenchPlanner.Expand(options, transports).Select(item => item.Label)];
}
