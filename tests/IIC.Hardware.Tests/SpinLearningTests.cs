using System.Diagnostics;

namespace IIC.Hardware.Tests;

/// <summary>
/// The adaptive waiter's learning, driven with synthetic wait outcomes (deterministic), and the Waiter's use of it on a
/// real interrupt page (issue 16: the co-located spinning pair and the park cut short by a deadline).
/// </summary>
public sealed class SpinLearningTests
{
    private static readonly long s_micro = Stopwatch.Frequency / 1_000_000;
    private static readonly long s_max = Stopwatch.Frequency / 1000; // the default 1 ms ceiling
    private static readonly long s_floor = Stopwatch.Frequency / 5000; // the default 200 µs flowing floor

    [Fact]
    public void Waits_served_only_after_handing_the_cpu_away_switch_to_yielding_at_once_and_parking_now_and_then()
    {
        var learning = new SpinLearning(s_max, s_floor);
        Assert.True(learning.NextBudgetTicks(out var yieldAtOnce) > 0);
        Assert.False(yieldAtOnce);

        learning.LearnSpin(25 * s_micro, handoff: true);
        Assert.False(learning.Contended, "one hand-off (a host hiccup) is not yet a shared CPU");
        learning.LearnSpin(25 * s_micro, handoff: false);
        learning.LearnSpin(25 * s_micro, handoff: true);
        Assert.False(learning.Contended, "hand-offs must come in a row");
        learning.LearnSpin(25 * s_micro, handoff: true);
        Assert.True(learning.Contended);

        // Contended: every wait offers the CPU from its start; one parks at once after ContendedParkInterval waits, and
        // while the pair stays together the interval doubles (32, 64, 128, ... up to MaxContendedParkInterval).
        var parkedAt = new List<int>();
        for (var i = 1; i <= 4 * SpinLearning.MaxContendedParkInterval; i++)
        {
            var budget = learning.NextBudgetTicks(out yieldAtOnce);
            Assert.True(yieldAtOnce);
            if (budget == 0)
            {
                parkedAt.Add(i);
                learning.LearnPark(8 * s_micro);
            }
            else
            {
                learning.LearnSpin(8 * s_micro, handoff: true);
            }
        }
        var expected = new List<int>();
        for (int at = 0, interval = SpinLearning.ContendedParkInterval; at + interval <= 4 * SpinLearning.MaxContendedParkInterval; interval = Math.Min(2 * interval, SpinLearning.MaxContendedParkInterval))
        {
            at += interval;
            expected.Add(at);
        }
        Assert.Equal([32, 96, 224, 480, 992, 2016, 4064, 8160, 16352, 32736, 49120, 65504], expected);
        Assert.Equal(expected, parkedAt);
        Assert.True(learning.Contended);

        // Data that arrives while this thread holds its CPU (the peer runs elsewhere now): back to plain spinning.
        for (var i = 0; i < SpinLearning.CalmWaitsToLeave - 1; i++)
        {
            learning.LearnSpin(2 * s_micro, handoff: false);
        }
        Assert.True(learning.Contended, "one calm wait short");
        learning.LearnSpin(2 * s_micro, handoff: false);
        Assert.False(learning.Contended);
        Assert.True(learning.NextBudgetTicks(out yieldAtOnce) > 0);
        Assert.False(yieldAtOnce);

        // Entering again starts from the short interval.
        learning.LearnSpin(25 * s_micro, handoff: true);
        learning.LearnSpin(25 * s_micro, handoff: true);
        Assert.True(learning.Contended);
        for (var i = 1; i < SpinLearning.ContendedParkInterval; i++)
        {
            Assert.True(learning.NextBudgetTicks(out _) > 0);
        }
        Assert.Equal(0, learning.NextBudgetTicks(out _));
    }

    [Fact]
    public void A_park_is_judged_by_when_its_data_arrived_not_when_the_receiver_woke()
    {
        // Wake-ups cost 40 µs; the data comes 10 µs into each wait. Judged by arrival, spinning pays: the payoff stays
        // whole and the gap is learned as ~10 µs, not as the 50 µs the receiver slept.
        var learning = new SpinLearning(s_max, s_floor);
        for (var i = 0; i < 64; i++)
        {
            learning.LearnWakeLatency(40 * s_micro);
            learning.LearnPark(10 * s_micro);
        }
        Assert.Equal(1024, learning.Payoff);
        Assert.InRange(learning.GapTicks, 9 * s_micro, 12 * s_micro);
        Assert.True(learning.BudgetTicks >= 4 * 40 * s_micro * 99 / 100, "spins for about 4 wake latencies");
    }

    [Fact]
    public void Gaps_beyond_the_budget_shrink_it_toward_parking_and_idleness_jumps_the_gap()
    {
        var learning = new SpinLearning(s_max, s_floor);
        for (var i = 0; i < 64; i++)
        {
            learning.LearnWakeLatency(40 * s_micro);
            learning.LearnPark(5000 * s_micro); // 5 ms gaps: far beyond the 1 ms ceiling
        }
        Assert.True(learning.Payoff < 16, $"payoff {learning.Payoff}");
        Assert.True(learning.BudgetTicks < 10 * s_micro);
        learning.LearnIdle(100_000 * s_micro);
        Assert.Equal(100_000 * s_micro, learning.GapTicks);
    }

    [Fact]
    public void A_park_cut_short_by_a_near_deadline_is_not_idleness()
    {
        // A receiver polling with 2 ms deadlines (as a demoted group page's members are polled every 1 ms) times out
        // every time, but never waits its whole 100 ms park timeout: the gap it learns is ~2 ms, not the park timeout.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var waiter = new Waiter(WaitStrategy.Adaptive, window.GetInterruptPage(0));
        var target = new NeverReady();
        for (var i = 0; i < 5; i++)
        {
            Assert.False(waiter.Wait(ref target, Stopwatch.GetTimestamp() + 2000 * s_micro));
        }
        Assert.True(waiter.ParkTimeouts >= 1, "the waits parked and timed out");
        var parkTimeout = (long)(WaitStrategy.DefaultParkTimeout.TotalSeconds * Stopwatch.Frequency);
        Assert.True(waiter.Learning.GapTicks < parkTimeout / 2, $"learned gap {waiter.Learning.GapTicks / s_micro} µs: a cut-short park counted as idleness");

        // A park that runs its whole timeout is idleness.
        var shortTimeout = new Waiter(WaitStrategy.CreateAdaptive(parkTimeout: TimeSpan.FromMilliseconds(5)), window.GetInterruptPage(0));
        Assert.False(shortTimeout.Wait(ref target, Stopwatch.GetTimestamp() + 30_000 * s_micro));
        Assert.True(shortTimeout.Learning.GapTicks >= 5000 * s_micro * 7 / 8, $"learned gap {shortTimeout.Learning.GapTicks / s_micro} µs after whole park timeouts");
    }

    [Fact]
    public void Under_continuous_traffic_a_hiccup_is_spun_through_even_when_the_box_learned_fast_wake_ups()
    {
        // Issue 17, "no stray sleeps": a busy box learns 5 µs wake-ups; the data comes 1 µs into each wait, and every 64th
        // wait is a 100 µs hiccup (the peer's vCPU preempted). 4 x 5 µs or 2 x the mean gap would park on each hiccup
        // and the next message would pay a kernel wake-up; every wait's budget must cover the hiccup.
        var learning = new SpinLearning(s_max, s_floor);
        for (var i = 0; i < 64; i++)
        {
            learning.LearnWakeLatency(5 * s_micro);
        }
        for (var i = 1; i <= 4096; i++)
        {
            var budget = learning.NextBudgetTicks(out _);
            Assert.True(budget >= 100 * s_micro, $"wait {i}: a {budget / s_micro} µs budget parks on a 100 µs hiccup");
            learning.LearnSpin((i % 64 == 0 ? 100 : 1) * s_micro, handoff: false);
        }
        Assert.Equal(1024, learning.Payoff);

        // The floor is for flowing traffic only: after real idleness the receiver spins briefly again.
        learning.LearnIdle(100_000 * s_micro);
        Assert.True(learning.NextBudgetTicks(out _) < 10 * s_micro);
    }

    [Theory]
    [InlineData("adaptive")]
    [InlineData("spin")]
    public void A_spinning_or_adaptive_receiver_under_continuous_traffic_never_parks_on_a_hiccup(string strategy)
    {
        // The same on a real waiter and interrupt page, counted by its park counter: data 1 µs into each wait and a
        // 100 µs hiccup every 50th, after the waiter learned 5 µs wake-ups. The target turns ready by the clock (no
        // second thread the box could deschedule), so a park can only be the waiter's own choice.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var waiter = new Waiter(WaitStrategy.Parse(strategy), window.GetInterruptPage(0));
        for (var i = 0; i < 64; i++)
        {
            waiter.Learning.LearnWakeLatency(5 * s_micro);
        }
        for (var i = 1; i <= 2000; i++)
        {
            var target = new ReadyAt(Stopwatch.GetTimestamp() + ((i % 50 == 0 ? 100 : 1) * s_micro));
            // A park would sleep until this deadline (nobody raises the page): 5 ms, so the old rule fails quickly.
            Assert.True(waiter.Wait(ref target, target.At + (5000 * s_micro)));
        }
        Assert.Equal(0, waiter.Parks);
        Assert.True(waiter.SpinHits > 1000, $"{waiter.SpinHits} waits spun"); // the rest found their data at once
    }

    private readonly struct ReadyAt(long at) : IWaitTarget
    {
        public long At => at;

        public bool IsReady => Stopwatch.GetTimestamp() >= at;

        public void Arm()
        {
        }

        public void Disarm()
        {
        }
    }

    private struct NeverReady : IWaitTarget
    {
        public readonly bool IsReady => false;

        public readonly void Arm()
        {
        }

        public readonly void Disarm()
        {
        }
    }
}
