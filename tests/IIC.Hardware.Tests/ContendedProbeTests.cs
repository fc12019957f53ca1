using System.Diagnostics;

namespace IIC.Hardware.Tests;

/// <summary>
/// The adaptive waiter's contended-mode probes (round 11, issue 16), driven with synthetic wait outcomes: a hand-off to a
/// third task (the peer on the other CPU) must not hold a pair in the slow mode, and a pair that really shares a CPU must
/// keep the mode and pay ever rarer probes.
/// </summary>
public sealed class ContendedProbeTests
{
    private static readonly long s_micro = Stopwatch.Frequency / 1_000_000;
    private static readonly long s_max = Stopwatch.Frequency / 1000;
    private static readonly long s_floor = Stopwatch.Frequency / 5000;

    /// <summary>
    /// The box has a third runnable task; the peer runs on the other CPU. A wait that offers its CPU at once runs that task
    /// for a while, and the peer's data is there afterwards (a hand-off); a wait that spins first gets the data within a
    /// few µs while it holds its CPU (calm). Without probes (the old rule, <c>IIC_WAIT_CONTENDED_PROBE=0</c>) every
    /// contended wait yields at once, so the mode never ends; with them it ends at the first probe.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Hand_offs_to_a_third_task_end_contended_mode_at_the_first_probe_only_with_probes(bool probes)
    {
        var learning = new SpinLearning(s_max, s_floor, probes);
        learning.LearnSpin(25 * s_micro, handoff: true);
        learning.LearnSpin(25 * s_micro, handoff: true);
        Assert.True(learning.Contended);
        var contendedWaits = 0;
        var leftAt = -1;
        for (var i = 1; i <= 1000; i++)
        {
            var budget = learning.NextBudgetTicks(out var yieldAtOnce);
            if (learning.Contended)
            {
                contendedWaits++;
            }
            if (budget == 0)
            {
                learning.LearnPark(30 * s_micro);
            }
            else
            {
                learning.LearnSpin(yieldAtOnce ? 8 * s_micro : 2 * s_micro, handoff: yieldAtOnce);
            }
            if (!learning.Contended && leftAt < 0)
            {
                leftAt = i;
            }
        }
        if (probes)
        {
            Assert.Equal(SpinLearning.ContendedProbeInterval, leftAt);
            Assert.False(learning.Contended);
            Assert.Equal(SpinLearning.ContendedProbeInterval, contendedWaits);
        }
        else
        {
            Assert.Equal(-1, leftAt);
            Assert.True(learning.Contended, "without probes every wait yields at once and hands off: the mode never ends");
            Assert.Equal(1000, contendedWaits);
        }
    }

    /// <summary>
    /// The peer really shares this thread's CPU: even a probe's spin ends only after it offered the CPU (a hand-off). The
    /// mode stays; probes come after 8, 16, 32, ... waits, up to one per <see cref="SpinLearning.MaxContendedProbeInterval"/>;
    /// the parks keep their own schedule.
    /// </summary>
    [Fact]
    public void A_pair_that_shares_a_cpu_stays_contended_and_probes_ever_more_rarely()
    {
        var learning = new SpinLearning(s_max, s_floor, contendedProbes: true);
        learning.LearnSpin(25 * s_micro, handoff: true);
        learning.LearnSpin(25 * s_micro, handoff: true);
        var probesAt = new List<int>();
        var parks = 0;
        const int Waits = 8192;
        for (var i = 1; i <= Waits; i++)
        {
            var budget = learning.NextBudgetTicks(out var yieldAtOnce);
            if (budget == 0)
            {
                parks++;
                learning.LearnPark(30 * s_micro);
                continue;
            }
            if (!yieldAtOnce)
            {
                probesAt.Add(i);
            }
            learning.LearnSpin(yieldAtOnce ? 8 * s_micro : 25 * s_micro, handoff: true);
            Assert.True(learning.Contended, $"wait {i}: a hand-off must not end the mode");
        }
        // Probe intervals double from 8 to 1024 (a wait that parks is no probe and delays the count by one).
        var intervals = probesAt.Zip(probesAt.Skip(1), (a, b) => b - a).ToList();
        Assert.Equal(SpinLearning.ContendedProbeInterval, probesAt[0]);
        for (var k = 0; k < intervals.Count; k++)
        {
            var expected = Math.Min(SpinLearning.ContendedProbeInterval << (k + 1), SpinLearning.MaxContendedProbeInterval);
            Assert.InRange(intervals[k], expected, expected + 1);
        }
        Assert.True(probesAt.Count <= 16, $"{probesAt.Count} probes in {Waits} waits");
        // The parks as without probes: after 32, 64, 128, ... waits (32 + 64 + ... + 4096 = 8160 <= 8192: 8 parks).
        Assert.Equal(8, parks);
    }
}
