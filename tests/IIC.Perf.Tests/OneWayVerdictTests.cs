using System.Diagnostics;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>
/// The one-way rows' clock and verdict (round 14): where the clock stops (<see cref="ClientMeasurement.EndedAt"/>), which
/// regime a sink ran in (<see cref="SinkRegime"/>), and that the target counts only rounds whose two sinks ran in the same
/// regime. Also the shared cache behind every receiver's expected sum (<see cref="MessageStamp.Expected"/>) under threads.
/// </summary>
public sealed class OneWayVerdictTests
{
    private const string OneWayPoll = "32 B one-way poll: at least 80 % of raw-shm poll msgs/s";

    [Fact]
    public void SinkRegime_DrainsFromHalfThePollLimit()
    {
        Assert.Equal(SinkServer.PollLimit / 2.0, SinkRegime.DrainingFrom);
        Assert.Equal(SinkRegime.Draining, SinkRegime.Of(SinkRegime.DrainingFrom));
        Assert.Equal(SinkRegime.Draining, SinkRegime.Of(SinkServer.PollLimit));
        Assert.Equal(SinkRegime.KeepingUp, SinkRegime.Of(Math.BitDecrement(SinkRegime.DrainingFrom)));
        Assert.Equal(SinkRegime.KeepingUp, SinkRegime.Of(1));
    }

    [Fact]
    public void OneWayTarget_LeavesOutTheRoundsWhoseSinksRanInDifferentRegimes_AndGivesEachRegimeApart()
    {
        const double draining = 250;
        const double keepingUp = 3;
        // Eight kept rounds: iic's ratio 0.9 where both sinks drain, 0.85 where both keep up, 0.5 in the two mixed rounds.
        var iic = Rows.InterleavedOneWay("poll", 0.9, 0.9, 0.9, 0.5, 0.5, 0.85, 0.85, 0.85) with
        {
            RoundMsgsPerPoll = [draining, draining, draining, draining, keepingUp, keepingUp, keepingUp, keepingUp],
        };
        var raw = new BenchResult
        {
            Test = "throughput", Transport = "raw-shm", Mode = "spin", Api = "poll", Size = 32, MsgsPerS = 11_000_000,
            InterleavedWith = "iic", RoundMsgsPerPoll = [draining, draining, draining, keepingUp, draining, keepingUp, keepingUp, keepingUp],
        };

        var report = Rows.Report(iic, raw);
        var line = Rows.TargetLine(OneWayPoll, iic, raw);

        Assert.Contains("median of 6 interleaved rounds' ratios in the same regime", line, StringComparison.Ordinal);
        Assert.Contains("(2 of 8 rounds left out: the two sinks in different regimes)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("50.0 %", line, StringComparison.Ordinal); // no mixed round in the median or its interval
        Assert.Contains($"of which both sinks {SinkRegime.Draining}, median of 3", report, StringComparison.Ordinal);
        Assert.Contains($"of which both sinks {SinkRegime.KeepingUp}, median of 3", report, StringComparison.Ordinal);
    }

    [Fact]
    public void OneWayTarget_GivesEachPlacementsRoundsApart_WhenTheRunSpannedTwo()
    {
        // Eight kept rounds: iic at 0.5 of raw-shm on the sibling placement (whose raw ring runs 2x), 1.4 on the near one.
        var iic = Rows.InterleavedOneWay("receive", 0.5, 0.5, 0.5, 0.5, 1.4, 1.4, 1.4, 1.4) with
        {
            RoundProbeNs = [80, 80, 80, 80, 80, 120, 130, 120, 120], // round 4 starts on siblings and ends near: pooled only
        };
        var raw = new BenchResult { Test = "throughput", Transport = "raw-shm", Mode = "spin", Api = "receive", Size = 32, MsgsPerS = 50_000_000, InterleavedWith = "iic" };

        var report = Rows.Report(iic, raw);

        Assert.Contains($"of which on the {Placement.Sibling} placement, median of 4", report, StringComparison.Ordinal);
        Assert.Contains($"of which on the {Placement.Near} placement, median of 3", report, StringComparison.Ordinal);
        Assert.Contains("50.0 % [50.0-50.0]", report, StringComparison.Ordinal);
        Assert.Contains("140.0 % [140.0-140.0]", report, StringComparison.Ordinal);

        // One placement throughout: no extra lines.
        var onePlacement = Rows.Report(iic with { RoundProbeNs = [120, 120, 120, 120, 120, 120, 120, 120, 120] }, raw);
        Assert.DoesNotContain("placement, median of", onePlacement, StringComparison.Ordinal);
    }

    [Fact]
    public void EndedAt_StopsTheOneWayClockWhereTheReceiverTookTheStop()
    {
        var start = 1_000_000L;
        var measured = new ClientMeasurement(Count: 1000, ElapsedS: 2.0, CpuS: 1, Latency: null, MessagesPerSecond: 500) { StartTicks = start };
        var stop = start + Stopwatch.Frequency; // one second after the first send

        var ended = measured.EndedAt(stop);

        Assert.Equal(1.0, ended.ElapsedS, 9);
        Assert.Equal(1000.0, ended.MessagesPerSecond, 6);
        Assert.Equal(measured.Count, ended.Count);
    }

    [Fact]
    public void EndedAt_KeepsTheClientsClock_WhenTheReceiversTimestampIsMissingOrOutsideThePhase()
    {
        var start = 1_000_000L;
        var measured = new ClientMeasurement(1000, 2.0, 1, null, 500) { StartTicks = start };

        Assert.Same(measured, measured.EndedAt(null));
        Assert.Same(measured, measured.EndedAt(start)); // no time at all
        Assert.Same(measured, measured.EndedAt(start - Stopwatch.Frequency)); // before the first send
        Assert.Same(measured, measured.EndedAt(start + (3 * Stopwatch.Frequency))); // after the client's own end
        var unstarted = measured with { StartTicks = null };
        Assert.Same(unstarted, unstarted.EndedAt(start + Stopwatch.Frequency));
        var histogram = LatencySummary.NewTickHistogram();
        histogram.RecordValue(200);
        var roundTrips = measured with { Latency = LatencySummary.FromTicks(histogram) };
        Assert.Same(roundTrips, roundTrips.EndedAt(start + Stopwatch.Frequency)); // latency rows keep their clock
    }

    [Fact]
    public void ExpectedSum_StaysRightWhileThreadsAskForDifferentLengths()
    {
        // The shape cache is one shared reference (round 14; it was thread static): threads asking for different lengths
        // replace each other's shapes all the time, and every answer must still be the one for the length asked.
        int[] lengths = [32, 300, 4096, 13];
        var messages = lengths.Select(l => ScriptedEndpoint.Message(l, 77)).ToArray();
        var failures = 0;
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var k = (i + t) % lengths.Length;
                if (!MessageStamp.IsIntact(messages[k], 77))
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(0, failures);
    }
}
