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
/// max(4 x wake latency, 2 x recent gap) while the recent gap is below 20 x the wake latency or below the ceiling, never longer than
/// <see cref="WaitStrategy.MaxSpinBudget"/>, scaled by the share of recent waits such a spin would have caught
/// (on an oversubscribed machine spinning only steals the peer's CPU, so it degrades to parking and recovers
/// when gaps shrink). After a park that timed out (real idleness) the gap estimate jumps,
/// the next wait spins only briefly, and an idle receiver uses almost no CPU.</para>
/// </summary>
public sealed class Waiter
{
    private const int EwmaShift = 3; // alpha = 1/8
    private const int PayoffShift = 10;
    private static readonly long s_initialWakeLatencyTicks = Stopwatch.Frequency / 20_000; // 50 µs until measured
    private static readonly long s_yieldAfterTicks = Stopwatch.Frequency / 50_000; // 20 µs of spinning
    private static readonly long s_descheduledTicks = Stopwatch.Frequency / 20_000; // a yield that took 50 µs
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
    private long _wakeLatencyTicks = s_initialWakeLatencyTicks;
    private long _gapTicks;
    private long _payoff = 1L << PayoffShift; // fraction of recent waits a full spin would have caught, in 1/1024ths

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
        _gapTicks = _wakeLatencyTicks;
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
    public TimeSpan WakeLatency => TimeSpan.FromSeconds((double)_wakeLatencyTicks / Stopwatch.Frequency);

    /// <summary>The most recent wake-up latency measured on a real wake, in Stopwatch ticks (0 if none yet).</summary>
    public long LastWakeLatencyTicks { get; private set; }

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
        var budget = BudgetTicks();
        if (budget > 0 && Spin(ref target, start, Math.Min(deadline, SaturatingAdd(start, budget))))
        {
            SpinHits++;
            if (_strategy.Kind == WaitKind.Adaptive)
            {
                // Only the adaptive budget learns from gaps: the others skip the clock read, which would sit
                // between the message's arrival and its delivery.
                LearnGap(Stopwatch.GetTimestamp() - start);
            }
            return true;
        }
        var ready = Park(ref target, deadline);
        LearnGap(Stopwatch.GetTimestamp() - start);
        return ready;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Spin<TTarget>(ref TTarget target, long start, long spinUntil)
        where TTarget : struct, IWaitTarget
    {
        // Past a short while, offer the CPU between rounds (sched_yield returns at once when nothing else wants
        // it): when both partitions share one CPU, the message we wait for can only come if the peer runs.
        // A yield that took long shows the CPU is oversubscribed, and spinning on only delays whoever waits for
        // it. But one slow yield is also what a single host hiccup (a vCPU preempted for 50 µs) looks like, and
        // parking on it costs a kernel wake-up (40-90 µs here) on the next message: the intermittent ~45 µs tail
        // of issue 17. So only several slow yields in one wait end the spin, and a busy-spinning receiver never
        // parks on them at all (it asked never to sleep).
        var yieldAfter = start + s_yieldAfterTicks;
        var slowYields = 0;
        var mayGiveUp = _strategy.Kind != WaitKind.BusySpin;
        // First a short run of plain loads (an L1 hit each until the peer's store invalidates the line), as the raw
        // rings spin: a PAUSE per check delays noticing the message by half a PAUSE on average, which measured
        // 40-50 ns per round trip on this EPYC (a two-thread ring echo: 160-170 ns without, 210-230 ns with). A
        // small message's round trip ends in this phase; longer waits fall through to the PAUSE loop below, which
        // is kinder to an SMT sibling and to the hypervisor (PAUSE-loop exiting).
        // Only when the budget covers it: a short adaptive budget stays short.
        for (var i = spinUntil - start >= s_plainSpinTicks ? 0 : PlainSpins; i < PlainSpins; i++)
        {
            if (target.IsReady)
            {
                return true;
            }
        }
        while (true)
        {
            for (var i = 0; i < 64; i++)
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
                if (Stopwatch.GetTimestamp() - now > s_descheduledTicks && mayGiveUp && ++slowYields >= SlowYieldLimit)
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
                var timeout = remaining != Timeout.InfiniteTimeSpan && remaining < _parkTimeout ? remaining : _parkTimeout;
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
                    _gapTicks = Math.Max(_gapTicks, ToTicks(_parkTimeout)); // real idleness
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

    private long BudgetTicks()
    {
        switch (_strategy.Kind)
        {
            case WaitKind.BusySpin:
                return long.MaxValue;
            case WaitKind.Park:
                return 0;
            case WaitKind.SpinThenPark:
                return _fixedBudgetTicks;
            default:
                // Scaled by how often a spin of that length would have caught the message: when the machine is
                // oversubscribed the peer is descheduled for longer than any budget, spinning only steals its
                // CPU, and the waiter degrades to parking; it recovers as soon as gaps shrink again.
                return AdaptiveBudgetTicks() * _payoff >> PayoffShift;
        }
    }

    private long AdaptiveBudgetTicks()
    {
        // Spin through gaps that are cheap next to a wake-up, or that fit the ceiling anyway (a wake-up is cheap on
        // a busy machine whose CPUs never halt, yet a sleeping receiver still answers 10-100x later than a spinning one).
        var wake = _wakeLatencyTicks;
        var budget = _gapTicks < 20 * wake || _gapTicks < _maxBudgetTicks ? Math.Max(4 * wake, 2 * _gapTicks) : wake;
        return Math.Min(budget, _maxBudgetTicks);
    }

    /// <summary>
    /// Learns whether spinning pays: a wait "would have hit" when its data arrived within the full adaptive budget,
    /// whether it actually spun or parked, so a waiter that parks still learns when spinning would pay again
    /// (judging only real spins could never recover from a budget of zero: the collapse docs/architecture.md describes).
    /// </summary>
    private void LearnPayoff(long waitTicks)
    {
        var hit = waitTicks <= AdaptiveBudgetTicks() ? 1L << PayoffShift : 0;
        _payoff += (hit - _payoff) >> EwmaShift;
    }

    private void LearnGap(long ticks)
    {
        if (_strategy.Kind == WaitKind.Adaptive)
        {
            LearnPayoff(ticks);
        }
        _gapTicks += (ticks - _gapTicks) >> EwmaShift;
    }

    private void LearnWakeLatency()
    {
        var raisedAt = _site.ReadRaisedAt(); // written by the peer: read once, validated
        var latency = Stopwatch.GetTimestamp() - raisedAt;
        if (raisedAt > 0 && latency > 0 && latency < Stopwatch.Frequency / 100)
        {
            LastWakeLatencyTicks = latency;
            _wakeLatencyTicks += (latency - _wakeLatencyTicks) >> EwmaShift;
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
