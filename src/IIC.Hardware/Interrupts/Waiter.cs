using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// One receiver's waiting: a <see cref="WaitStrategy"/> plus what an adaptive receiver has learned and the
/// counters the metrics expose. Not thread safe: it belongs to the receiving thread.
/// <para>Adaptive rule (why: docs/architecture.md, "Decisions"): a fixed spin of a few µs collapses on a VM where a wake-up costs
/// 40-100 µs, because after one hiccup both sides park and stay parked. So the waiter measures the wake-up
/// latency of its real parks (the waker stamps the page) and the gaps between arrivals, and spins for
/// max(4 x wake latency, 2 x recent gap, the strategy's <see cref="WaitStrategy.SpinBudget"/>) while the recent gap is below 20 x
/// the wake latency or below the ceiling, never longer than
/// <see cref="WaitStrategy.MaxSpinBudget"/>, scaled by the share of recent waits such a spin would have caught
/// (on an oversubscribed machine spinning only steals the peer's CPU, so it degrades to parking and recovers
/// when gaps shrink). After a park that timed out (real idleness) the gap estimate jumps,
/// the next wait spins only briefly, and an idle receiver uses almost no CPU. When the data keeps arriving only while
/// this thread has yielded its CPU (the peer shares it), it offers the CPU at once and parks now and then so the kernel
/// can move it to an idle CPU (<see cref="SpinLearning"/>).</para>
/// </summary>
public sealed class Waiter
{
    private static readonly long s_yieldAfterTicks = Stopwatch.Frequency / 50_000; // 20 µs of spinning
    private static readonly long s_descheduledTicks = Stopwatch.Frequency / 20_000; // a yield that took 50 µs
    private static readonly long s_handoffTicks = Stopwatch.Frequency / 500_000; // a yield that took 2 µs let another thread run
    private const int SlowYieldLimit = 3; // slow yields in one wait before an adaptive or spin-then-park receiver parks
    private const int PlainSpins = 1024; // checks without PAUSE before the paced loop: about 1-2 µs of L1 hits
    private static readonly long s_plainSpinTicks = Stopwatch.Frequency / 250_000; // 4 µs: budgets shorter than this skip the plain phase

    private readonly WaitStrategy _strategy;
    private readonly InterruptPage? _page;
    private readonly ISleepSite _site;
    private readonly long _fixedBudgetTicks;
    private readonly long _maxBudgetTicks;
    private readonly TimeSpan _parkTimeout;

    private readonly bool _pendingIsReadiness;
    private readonly SpinLearning _learning;
    private bool _handedOff; // the last spin ended right after a yield that let another thread run
    private long _arrivedAt; // the waker's stamp of the wake that ended the last park, 0 if none

    /// <summary>Creates a waiter that parks on <paramref name="page"/>.</summary>
    /// <param name="strategy">How to wait.</param>
    /// <param name="page">Where to sleep.</param>
    /// <param name="pendingIsReadiness">
    /// True for a group receiver: its target's readiness is the page's pending bits, which it takes itself, so
    /// the waiter must never clear them. False (one ring per page): the waiter clears stale bits so that the
    /// next raise is a fresh 0 to 1 edge, and the caller re-checks its ring.
    /// </param>
    public Waiter(WaitStrategy strategy, InterruptPage page, bool pendingIsReadiness = false)
        : this(strategy, page ?? throw new ArgumentNullException(nameof(page)), page, pendingIsReadiness)
    {
    }

    /// <summary>Creates a waiter that parks on <paramref name="site"/> (a channel group's pages); its pending bits are the target's readiness.</summary>
    internal Waiter(WaitStrategy strategy, ISleepSite site)
        : this(strategy, site as InterruptPage, site, pendingIsReadiness: true)
    {
    }

    private Waiter(WaitStrategy strategy, InterruptPage? page, ISleepSite site, bool pendingIsReadiness)
    {
        _pendingIsReadiness = pendingIsReadiness;
        _strategy = strategy ?? throw new ArgumentNullException(nameof(strategy));
        _page = page;
        _site = site ?? throw new ArgumentNullException(nameof(site));
        _fixedBudgetTicks = ToTicks(strategy.SpinBudget);
        _maxBudgetTicks = ToTicks(strategy.MaxSpinBudget);
        _parkTimeout = strategy.ParkTimeout;
        _learning = new SpinLearning(_maxBudgetTicks, strategy.Kind == WaitKind.Adaptive ? _fixedBudgetTicks : 0, SpinLearning.ProbesFromEnvironment);
    }

    /// <summary>The strategy.</summary>
    public WaitStrategy Strategy => _strategy;

    /// <summary>The page this waiter sleeps on.</summary>
    /// <exception cref="InvalidOperationException">The waiter sleeps on several pages (a channel group's).</exception>
    public InterruptPage Page => _page ?? throw new InvalidOperationException("This waiter sleeps on several pages at once (a channel group's); it has no single page.");

    /// <summary>Waits that ended while spinning (data arrived within the spin budget).</summary>
    public long SpinHits { get; private set; }

    /// <summary>Times the receiver went to sleep in the kernel.</summary>
    public long Parks { get; private set; }

    /// <summary>Parks that ended by timeout rather than a wake.</summary>
    public long ParkTimeouts { get; private set; }

    /// <summary>
    /// Times the waiter backed off for 1 ms because <see cref="SpuriousWakeLimit"/> wakes in a row brought nothing
    /// (a peer flooding the interrupt page; legitimate traffic almost never gets here).
    /// </summary>
    public long SpuriousBackoffs { get; private set; }

    /// <summary>Wakes in a row that brought no data before the waiter backs off for 1 ms.</summary>
    internal const int SpuriousWakeLimit = 64;

    /// <summary>The learned wake-up latency (time from a sender's doorbell to this thread running).</summary>
    public TimeSpan WakeLatency => TimeSpan.FromSeconds((double)_learning.WakeLatencyTicks / Stopwatch.Frequency);

    /// <summary>The most recent wake-up latency measured on a real wake, in Stopwatch ticks (0 if none yet).</summary>
    public long LastWakeLatencyTicks { get; private set; }

    /// <summary>When this thread ran after the real wake that <see cref="LastWakeLatencyTicks"/> measured (a <see cref="Stopwatch"/> timestamp; 0 if none yet): diagnostics (IIC.Grpc's call trace).</summary>
    internal long LastWakeRunningAt { get; private set; }

    /// <summary>
    /// Where measured wake-up latencies go, in seconds (the transport sets its <c>iic.wake.duration</c>
    /// histogram here). Recorded only on a real wake after a park, and only while a listener has enabled the
    /// instrument: one null and one <see cref="Instrument.Enabled"/> check, never on the spin path.
    /// </summary>
    public static Histogram<double>? WakeLatencyHistogram { get; set; }

    /// <summary>The tag recorded with this receiver's wake-ups (the transport sets <c>iic.service</c>); none while its key is null.</summary>
    public KeyValuePair<string, object?> MetricTag { get; set; }

    /// <summary>The spin budget the next wait will use.</summary>
    public TimeSpan CurrentSpinBudget => TimeSpan.FromSeconds((double)BudgetTicks() / Stopwatch.Frequency);

    /// <summary>The adaptive learning (for tests and diagnostics).</summary>
    internal SpinLearning Learning => _learning;

    /// <summary>
    /// Waits until <paramref name="target"/> is ready or the deadline passes.
    /// </summary>
    /// <param name="target">What to wait on.</param>
    /// <param name="deadline">A <see cref="Stopwatch.GetTimestamp"/> value, or <see cref="long.MaxValue"/> for none.</param>
    /// <returns>True when ready; false at the deadline.</returns>
    public bool Wait<TTarget>(ref TTarget target, long deadline)
        where TTarget : struct, IWaitTarget
    {
        if (target.IsReady)
        {
            return true;
        }
        var start = Stopwatch.GetTimestamp();
        var adaptive = _strategy.Kind == WaitKind.Adaptive;
        var yieldAtOnce = false;
        var budget = adaptive ? _learning.NextBudgetTicks(out yieldAtOnce) : BudgetTicks();
        _handedOff = false;
        if (budget > 0 && Spin(ref target, start, Math.Min(deadline, SaturatingAdd(start, budget)), yieldAtOnce ? start : start + s_yieldAfterTicks))
        {
            SpinHits++;
            if (adaptive)
            {
                // Only the adaptive budget learns from gaps: the others skip the clock read, which would sit
                // between the message's arrival and its delivery.
                _learning.LearnSpin(Stopwatch.GetTimestamp() - start, _handedOff);
            }
            return true;
        }
        _arrivedAt = 0;
        var ready = Park(ref target, deadline);
        if (adaptive)
        {
            // Judged by when the data arrived (the waker's stamp, when it is this wait's), not when this thread woke:
            // our own wake-up latency is no part of the gap a spin would have had to cover.
            var end = Stopwatch.GetTimestamp();
            var arrivedAt = _arrivedAt;
            _learning.LearnPark((arrivedAt > start && arrivedAt <= end ? arrivedAt : end) - start);
        }
        return ready;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Spin<TTarget>(ref TTarget target, long start, long spinUntil, long yieldAfter)
        where TTarget : struct, IWaitTarget
    {
        // Past a short while, offer the CPU between rounds (sched_yield returns at once when nothing else wants
        // it): when both partitions share one CPU, the message we wait for can only come if the peer runs.
        // A yield that took long shows the CPU is oversubscribed, and spinning on only delays whoever waits for
        // it. But one slow yield is also what a single host hiccup (a vCPU preempted for 50 µs) looks like, and
        // parking on it costs a kernel wake-up (40-90 µs here) on the next message: the intermittent ~45 µs tail
        // of issue 17. So only several slow yields in one wait end the spin, and a busy-spinning receiver never
        // parks on them at all (it asked never to sleep).
        var slowYields = 0;
        var mayGiveUp = _strategy.Kind != WaitKind.BusySpin;
        // First a short run of plain loads (an L1 hit each until the peer's store invalidates the line), as the raw
        // rings spin: a PAUSE per check delays noticing the message by half a PAUSE on average, which measured
        // 40-50 ns per round trip on this EPYC (a two-thread ring echo: 160-170 ns without, 210-230 ns with). A
        // small message's round trip ends in this phase; longer waits fall through to the PAUSE loop below, which
        // is kinder to an SMT sibling and to the hypervisor (PAUSE-loop exiting).
        // Only when the budget covers it (a short adaptive budget stays short), and not when the peer shares our CPU
        // (yieldAfter is the start: it can only answer once we offer the CPU).
        for (var i = spinUntil - start >= s_plainSpinTicks && yieldAfter > start ? 0 : PlainSpins; i < PlainSpins; i++)
        {
            if (target.IsReady)
            {
                return true;
            }
        }
        // Checks per round between clock reads (and yields, once due): few when the peer shares our CPU, so that it
        // gets the CPU soon after we start waiting.
        var checks = yieldAfter > start ? 64 : 4;
        while (true)
        {
            for (var i = 0; i < checks; i++)
            {
                if (target.IsReady)
                {
                    return true;
                }
                Pause();
            }
            var now = Stopwatch.GetTimestamp();
            if (now >= spinUntil)
            {
                return target.IsReady;
            }
            if (now >= yieldAfter)
            {
                Thread.Yield();
                var took = Stopwatch.GetTimestamp() - now;
                if (took > s_handoffTicks && target.IsReady)
                {
                    // Another thread ran in our place and the data is here now: most likely the peer, on our CPU
                    // (the adaptive learning counts these; SpinLearning, "CPU rule").
                    _handedOff = true;
                    return true;
                }
                if (took > s_descheduledTicks && mayGiveUp && ++slowYields >= SlowYieldLimit)
                {
                    // The CPU is oversubscribed: stop spinning; the caller parks if nothing came.
                    return target.IsReady;
                }
            }
        }
    }

    private bool Park<TTarget>(ref TTarget target, long deadline)
        where TTarget : struct, IWaitTarget
    {
        target.Arm(); // full fence
        // Wakes and pending bits that brought nothing, in a row. A peer can raise them in a loop (it shares the
        // page); each costs us a futex round trip, or nothing at all once it bumps the futex word faster than we
        // sleep on it, so without a limit a hostile peer pins this thread at 100 % CPU.
        var spurious = 0;
        try
        {
            while (true)
            {
                if (target.IsReady)
                {
                    return true;
                }
                var now = Stopwatch.GetTimestamp();
                if (now >= deadline)
                {
                    return false;
                }
                if (spurious >= SpuriousWakeLimit)
                {
                    // Under a flood: back off 1 ms (a real message waits at most that long more) and start again.
                    spurious = 0;
                    SpuriousBackoffs++;
                    Thread.Sleep(1);
                    continue;
                }
                var check = _site.PrepareSleep(ref target, out var sequence);
                if (check == SleepCheck.Ready)
                {
                    return true;
                }
                if (check == SleepCheck.Pending)
                {
                    if (!_pendingIsReadiness)
                    {
                        _site.ClearPending(); // a raise we no longer need; a fresh 0 -> 1 edge must be possible
                    }
                    spurious++;
                    continue;
                }
                var remaining = Deadline.AtTimestamp(deadline).Remaining; // infinite for long.MaxValue
                // The park timeout is infinite by default (sleep until rung): then only the caller's deadline bounds it.
                var cutShort = remaining != Timeout.InfiniteTimeSpan && (_parkTimeout == Timeout.InfiniteTimeSpan || remaining < _parkTimeout);
                var timeout = cutShort ? remaining : _parkTimeout;
                Parks++;
                var result = _site.Sleep(sequence, timeout);
                if (!_pendingIsReadiness)
                {
                    _site.ClearPending(); // before draining, so a raise during the drain wakes the next sleep
                }
                if (result == FutexWaitResult.TimedOut)
                {
                    ParkTimeouts++;
                    spurious = 0;
                    if (!cutShort)
                    {
                        // Real idleness: a whole park timeout went by. A park cut short by a near deadline (a demoted
                        // group page's 1 ms poll, a caller's timeout) says nothing about how far off the data is.
                        _learning.LearnIdle(ToTicks(_parkTimeout));
                    }
                }
                else
                {
                    spurious++; // if it brought data, the check at the top returns before this counts
                    if (result == FutexWaitResult.Woken)
                    {
                        LearnWakeLatency();
                    }
                }
            }
        }
        finally
        {
            target.Disarm();
        }
    }

    private long BudgetTicks() => _strategy.Kind switch
    {
        WaitKind.BusySpin => long.MaxValue,
        WaitKind.Park => 0,
        WaitKind.SpinThenPark => _fixedBudgetTicks,
        // Scaled by how often a spin of that length would have caught the message: when the machine is
        // oversubscribed the peer is descheduled for longer than any budget, spinning only steals its
        // CPU, and the waiter degrades to parking; it recovers as soon as gaps shrink again.
        _ => _learning.BudgetTicks,
    };

    private void LearnWakeLatency()
    {
        var raisedAt = _site.ReadRaisedAt(); // written by the peer: read once, validated
        var now = Stopwatch.GetTimestamp();
        var latency = now - raisedAt;
        if (raisedAt > 0 && latency > 0 && latency < Stopwatch.Frequency / 100)
        {
            LastWakeLatencyTicks = latency;
            LastWakeRunningAt = now;
            _arrivedAt = raisedAt;
            _learning.LearnWakeLatency(latency);
            if (WakeLatencyHistogram is { Enabled: true } histogram)
            {
                var seconds = (double)latency / Stopwatch.Frequency;
                if (MetricTag.Key is null)
                {
                    histogram.Record(seconds);
                }
                else
                {
                    histogram.Record(seconds, MetricTag); // a prebuilt tag: nothing allocated per record
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pause()
    {
        if (X86Base.IsSupported)
        {
            X86Base.Pause();
        }
        else if (ArmBase.IsSupported)
        {
            ArmBase.Yield();
        }
    }

    private static long ToTicks(TimeSpan span) => span == Timeout.InfiniteTimeSpan ? long.MaxValue : (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static long SaturatingAdd(long a, long b) => b > long.MaxValue - a ? long.MaxValue : a + b;
}
