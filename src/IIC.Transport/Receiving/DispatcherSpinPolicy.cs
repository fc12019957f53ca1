using System.Diagnostics;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// How long an <see cref="InterruptDispatcher"/> polls its receivers before it parks them all with futex_waitv: the
/// <see cref="WaitKind.Adaptive"/> rule of <see cref="Waiter"/>, learned per dispatcher thread instead of per receiver.
/// It measures the wake-up latency of real parks (the waker stamps the page) and the gap from the start of a wait round
/// to the first receiver that became ready, and polls for max(4 x wake latency, 2 x gap) while the gap is below
/// 20 x the wake latency or below the ceiling, scaled by the share of recent rounds such a poll would have caught (so
/// on an oversubscribed machine it degrades to parking and recovers when gaps shrink). After a park that timed out
/// (real idleness) the gap jumps and the next round polls only briefly. Dispatcher thread only; not thread safe.
/// </summary>
internal sealed class DispatcherSpinPolicy
{
    /// <summary>The most a dispatcher polls in one round, whatever its receivers' strategies allow (BusySpin included).</summary>
    public static readonly long MaxCeilingTicks = Stopwatch.Frequency / 1000; // 1 ms

    private const int EwmaShift = 3; // alpha = 1/8, as Waiter
    private const int PayoffShift = 10;
    private static readonly long s_initialWakeLatencyTicks = Stopwatch.Frequency / 20_000; // 50 µs until measured
    private static readonly bool s_singleCpu = Environment.ProcessorCount == 1;

    private long _wakeLatencyTicks = s_initialWakeLatencyTicks;
    private long _gapTicks = s_initialWakeLatencyTicks;
    private long _payoff = 1L << PayoffShift; // fraction of recent rounds a full poll would have caught, in 1/1024ths

    /// <summary>The learned wake-up latency in Stopwatch ticks.</summary>
    public long WakeLatencyTicks => _wakeLatencyTicks;

    /// <summary>The most a receiver with <paramref name="strategy"/> lets its dispatcher poll for it, in Stopwatch ticks.</summary>
    public static long CeilingOf(WaitStrategy strategy) => strategy.Kind switch
    {
        WaitKind.Park => 0,
        WaitKind.BusySpin => MaxCeilingTicks,
        _ => Math.Min(MaxCeilingTicks, (long)(strategy.MaxSpinBudget.TotalSeconds * Stopwatch.Frequency)),
    };

    /// <summary>How long the next round polls, given the largest ceiling of the receivers it serves (0: park at once).</summary>
    public long BudgetTicks(long ceiling)
        => ceiling <= 0 || s_singleCpu ? 0 : AdaptiveBudgetTicks(ceiling) * _payoff >> PayoffShift;

    private long AdaptiveBudgetTicks(long ceiling)
    {
        var wake = _wakeLatencyTicks;
        var budget = _gapTicks < 20 * wake || _gapTicks < ceiling ? Math.Max(4 * wake, 2 * _gapTicks) : wake;
        return Math.Min(budget, ceiling);
    }

    /// <summary>A round ended with a receiver ready after <paramref name="ticks"/> (polled or parked): learn the gap and whether polling pays.</summary>
    public void LearnGap(long ticks, long ceiling)
    {
        var hit = ticks <= AdaptiveBudgetTicks(ceiling) ? 1L << PayoffShift : 0;
        _payoff += (hit - _payoff) >> EwmaShift;
        _gapTicks += (ticks - _gapTicks) >> EwmaShift;
    }

    /// <summary>A park timed out with nothing ready: real idleness.</summary>
    public void LearnIdle(long parkTimeoutTicks) => _gapTicks = Math.Max(_gapTicks, parkTimeoutTicks);

    /// <summary>
    /// A poll was cut short because yielding the CPU took long several times (the CPU is oversubscribed): count it as a
    /// round polling would not have caught, so the budget shrinks toward parking.
    /// </summary>
    public void LearnOversubscribed() => _payoff -= _payoff >> EwmaShift;

    /// <summary>Learns from a real wake: <paramref name="raisedAt"/> is the waker's stamp, read once from the shared page.</summary>
    public void LearnWake(long raisedAt)
    {
        var latency = Stopwatch.GetTimestamp() - raisedAt;
        if (raisedAt > 0 && latency > 0 && latency < Stopwatch.Frequency / 100) // a hostile or stale stamp is ignored
        {
            _wakeLatencyTicks += (latency - _wakeLatencyTicks) >> EwmaShift;
        }
    }
}
