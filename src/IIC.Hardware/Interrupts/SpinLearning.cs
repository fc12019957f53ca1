using System.Diagnostics;

namespace IIC.Hardware;

/// <summary>
/// What an adaptive <see cref="Waiter"/> has learned, and the rule that turns it into the next wait's plan; fed with the
/// outcome of each wait (factored out of the waiter so the rule can be driven with synthetic outcomes in tests).
/// Not thread safe: it belongs to the receiving thread.
/// <para>Time rule (docs/architecture.md, "Decisions"): spin for max(4 x wake latency, 2 x recent gap, the flowing floor)
/// while the gap is below 20 x the wake latency or below the ceiling, scaled by the share of recent waits such a spin
/// would have caught. The floor (issue 17, "no stray sleeps"): the learned gap is a mean, and under continuous traffic
/// the waits longer than it are hiccups (the peer's vCPU preempted, a timer interrupt) of tens of µs. Without a floor
/// the budget was 4 x a wake latency that a busy box learns as 5-10 µs, so a receiver parked on each 20-40 µs hiccup
/// and the next message paid a kernel wake-up (the ~45 µs tail). Spinning through a rare hiccup costs its length in
/// CPU; the floor applies only while traffic flows, so an idle receiver still spins only briefly.
/// A park is judged by when its data arrived (the waker's stamp), not by when this thread woke: its own wake-up latency
/// is not part of the gap a spin would have had to cover. Only a park that ran its whole park timeout is idleness.</para>
/// <para>CPU rule (issue 16): when the data keeps arriving only while this thread has given its CPU away (a yield that
/// let another thread run, after which the data was there), the peer runs on this thread's CPU. Spinning then only
/// delays the peer: the waiter enters <see cref="Contended"/> mode, in which it offers the CPU after every round of
/// checks instead of after 20 µs, and parks once after <see cref="ContendedParkInterval"/> waits, because a yield never
/// moves a thread to another CPU while a sleep and its wake-up let the kernel place it on an idle one; each park that did
/// not end the mode doubles the interval, up to <see cref="MaxContendedParkInterval"/> (a pair that cannot be separated,
/// on a busy or single-CPU box, parks ever more rarely). It leaves the mode after <see cref="CalmWaitsToLeave"/> waits in
/// a row whose data came while it held its CPU.</para>
/// <para>Probes (round 11, <see cref="ProbesFromEnvironment"/>; <c>IIC_WAIT_CONTENDED_PROBE=0</c> turns them off): a hand-off
/// also looks like this when a third task (any other process) is runnable: the yield runs that task for its slice while
/// the peer, on the other CPU, answers meanwhile. In contended mode every wait then yields at once and hands off again, so
/// the calm waits that would end the mode never come, and a pair on two CPUs stays in the slow mode (bidi 5-8 µs instead
/// of 1-2) for as long as the box is busy. So every <see cref="ContendedProbeInterval"/>-th contended wait spins as
/// outside the mode (offering the CPU only after 20 µs): data that comes while this thread held its CPU proves the peer
/// runs elsewhere, and the mode ends at once; a probe that hands off or parks doubles the interval, up to
/// <see cref="MaxContendedProbeInterval"/> (a pair that really shares a CPU pays one 20 µs spin ever more rarely).</para>
/// </summary>
internal sealed class SpinLearning
{
    /// <summary>Waits in a row ended by a hand-off before the waiter takes its peer to share its CPU.</summary>
    public const int HandoffsToEnter = 2;

    /// <summary>Waits in a row served without a hand-off before contended mode ends.</summary>
    public const int CalmWaitsToLeave = 8;

    /// <summary>In contended mode, the first park at once comes after this many waits (a chance to be woken onto an idle CPU).</summary>
    public const int ContendedParkInterval = 32;

    /// <summary>
    /// The longest interval between contended parks (it doubles after each park that did not end the mode): about 80 ms of
    /// 5 µs hand-offs. Each such park costs its wait a kernel wake-up; at the former 1024 a pair that no park could
    /// separate (both CPUs busy) parked on 0.1 % of its waits, a tail at p99.9 (issue 17: 200-280 parks per 200-300 k
    /// waits per side in a 4 KiB ping-pong under load). A CPU that frees up is still found within one interval.
    /// </summary>
    public const int MaxContendedParkInterval = 16384;

    /// <summary>In contended mode, the first probe (a wait that spins before it offers the CPU) comes after this many waits.</summary>
    public const int ContendedProbeInterval = 8;

    /// <summary>The longest interval between contended probes (it doubles after each probe the peer did not answer while this thread held its CPU).</summary>
    public const int MaxContendedProbeInterval = 1024;

    /// <summary>Whether waiters probe in contended mode: on unless <c>IIC_WAIT_CONTENDED_PROBE=0</c> (the A/B switch; read once).</summary>
    public static readonly bool ProbesFromEnvironment = Environment.GetEnvironmentVariable("IIC_WAIT_CONTENDED_PROBE") != "0";

    private const int EwmaShift = 3; // alpha = 1/8
    private const int PayoffShift = 10;

    /// <summary>Assumed wake-up latency until one is measured: 50 µs.</summary>
    public static readonly long InitialWakeLatencyTicks = Stopwatch.Frequency / 20_000;

    private readonly long _maxBudgetTicks;
    private readonly long _flowingFloorTicks;
    private long _wakeLatencyTicks = InitialWakeLatencyTicks;
    private long _gapTicks = InitialWakeLatencyTicks;
    private long _payoff = 1L << PayoffShift; // fraction of recent waits a full spin would have caught, in 1/1024ths
    private int _handoffStreak;
    private int _calmStreak;
    private int _contendedWaits;
    private int _parkInterval = ContendedParkInterval;
    private readonly bool _probes;
    private int _probeWaits;
    private int _probeInterval = ContendedProbeInterval;
    private bool _probing; // the current wait is a probe (its outcome decides the mode)

    /// <summary>Creates the learning of a receiver whose spins never exceed <paramref name="maxBudgetTicks"/>.</summary>
    /// <param name="maxBudgetTicks">The ceiling of every spin.</param>
    /// <param name="flowingFloorTicks">The least a wait spins while traffic flows (covers hiccups; capped by the ceiling).</param>
    /// <param name="contendedProbes">Whether contended mode probes now and then whether the peer runs elsewhere (see the class remarks; waiters pass <see cref="ProbesFromEnvironment"/>).</param>
    public SpinLearning(long maxBudgetTicks, long flowingFloorTicks, bool contendedProbes = false)
    {
        _maxBudgetTicks = maxBudgetTicks;
        _flowingFloorTicks = Math.Clamp(flowingFloorTicks, 0, maxBudgetTicks);
        _probes = contendedProbes;
    }

    /// <summary>The learned wake-up latency (a sender's doorbell to this thread running), in Stopwatch ticks.</summary>
    public long WakeLatencyTicks => _wakeLatencyTicks;

    /// <summary>The learned gap between the start of a wait and its data's arrival, in Stopwatch ticks.</summary>
    public long GapTicks => _gapTicks;

    /// <summary>The share of recent waits a full spin would have caught, in 1/1024ths.</summary>
    public long Payoff => _payoff;

    /// <summary>Whether the peer seems to share this thread's CPU (see the class remarks).</summary>
    public bool Contended { get; private set; }

    /// <summary>The spin budget the next wait would use, in Stopwatch ticks (no side effect: for gauges).</summary>
    public long BudgetTicks => FullBudgetTicks() * _payoff >> PayoffShift;

    /// <summary>
    /// The plan of the next wait: its spin budget (0: park at once) and whether to offer the CPU from the start. Called
    /// once per wait that does not find its data at once.
    /// </summary>
    public long NextBudgetTicks(out bool yieldAtOnce)
    {
        yieldAtOnce = Contended;
        _probing = false;
        if (Contended && ++_contendedWaits >= _parkInterval)
        {
            _contendedWaits = 0;
            _parkInterval = Math.Min(2 * _parkInterval, MaxContendedParkInterval); // if this park does not separate us, wait longer for the next
            return 0;
        }
        if (Contended && _probes && ++_probeWaits >= _probeInterval)
        {
            // A probe: spin as outside the mode; if the data comes while we hold the CPU, the peer runs elsewhere.
            _probeWaits = 0;
            _probing = true;
            yieldAtOnce = false;
        }
        return BudgetTicks;
    }

    /// <summary>A wait ended while spinning after <paramref name="waitTicks"/>; <paramref name="handoff"/>: right after a yield that let another thread run.</summary>
    public void LearnSpin(long waitTicks, bool handoff)
    {
        if (_probing)
        {
            _probing = false;
            if (!handoff && Contended)
            {
                // Answered while this thread held its CPU: the peer runs on another one (the hand-offs were to a third task).
                Contended = false;
                _handoffStreak = 0;
                _calmStreak = 0;
                LearnGap(waitTicks);
                return;
            }
            _probeInterval = Math.Min(2 * _probeInterval, MaxContendedProbeInterval);
        }
        if (handoff)
        {
            _calmStreak = 0;
            if (++_handoffStreak >= HandoffsToEnter && !Contended)
            {
                Contended = true;
                _contendedWaits = 0;
                _parkInterval = ContendedParkInterval;
                _probeWaits = 0;
                _probeInterval = ContendedProbeInterval;
            }
        }
        else
        {
            _handoffStreak = 0;
            if (Contended && ++_calmStreak >= CalmWaitsToLeave)
            {
                Contended = false;
            }
        }
        LearnGap(waitTicks);
    }

    /// <summary>A wait parked; its data arrived (or it gave up) <paramref name="arrivalTicks"/> after the wait began.</summary>
    public void LearnPark(long arrivalTicks)
    {
        if (_probing)
        {
            _probing = false; // a probe that parked proved nothing: wait longer for the next
            _probeInterval = Math.Min(2 * _probeInterval, MaxContendedProbeInterval);
        }
        LearnGap(arrivalTicks);
    }

    /// <summary>A park ran its whole park timeout with nothing: real idleness; the next wait spins only briefly.</summary>
    public void LearnIdle(long parkTimeoutTicks) => _gapTicks = Math.Max(_gapTicks, parkTimeoutTicks);

    /// <summary>A real wake measured <paramref name="latencyTicks"/> from the waker's stamp (already validated).</summary>
    public void LearnWakeLatency(long latencyTicks) => _wakeLatencyTicks += (latencyTicks - _wakeLatencyTicks) >> EwmaShift;

    /// <summary>The budget before the payoff scaling.</summary>
    private long FullBudgetTicks()
    {
        // Spin through gaps that are cheap next to a wake-up, or that fit the ceiling anyway (a wake-up is cheap on
        // a busy machine whose CPUs never halt, yet a sleeping receiver still answers 10-100x later than a spinning one).
        // While it flows, at least the floor: the gap is a mean, and the waits beyond it are hiccups a park would turn into
        // a kernel wake-up each.
        var wake = _wakeLatencyTicks;
        var budget = _gapTicks < 20 * wake || _gapTicks < _maxBudgetTicks ? Math.Max(Math.Max(4 * wake, 2 * _gapTicks), _flowingFloorTicks) : wake;
        return Math.Min(budget, _maxBudgetTicks);
    }

    /// <summary>
    /// Learns whether spinning pays: a wait "would have hit" when its data arrived within the full budget, whether it
    /// actually spun or parked, so a waiter that parks still learns when spinning would pay again (judging only real
    /// spins could never recover from a budget of zero: the collapse docs/architecture.md describes).
    /// </summary>
    private void LearnGap(long ticks)
    {
        var hit = ticks <= FullBudgetTicks() ? 1L << PayoffShift : 0;
        _payoff += (hit - _payoff) >> EwmaShift;
        _gapTicks += (ticks - _gapTicks) >> EwmaShift;
    }
}
