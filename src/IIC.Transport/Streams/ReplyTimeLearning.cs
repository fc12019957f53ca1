namespace IIC.Transport;

/// <summary>
/// What the spin-for-reply policy (<see cref="ReplySpin"/>) has learned about how long replies take, and the spin budget
/// that follows; fed with every owed reply's flush-to-arrival time, whether the receive thread spun for it or parked
/// (factored out so the rule can be driven with synthetic times in tests). Written by the receive thread only; the
/// budget is also read by flushing threads (a stale read costs at most one useless or one missed wake).
/// <para>Rule: spin for twice the learned reply time, at least <c>minBudget</c>, at most the limit, while at least a
/// quarter of recent replies came within the limit (the share a spin of the limit would have caught); otherwise do not
/// spin. Round 4's rule spun not at all once twice the learned time exceeded the limit, which defeated itself: a
/// reply that pays a kernel wake-up on the peer's side takes 100-300 µs on a 2-vCPU VM, so the learned time rose past
/// half of a 300 µs limit, the spin switched off, and nothing could bring the replies back under it.</para>
/// </summary>
internal sealed class ReplyTimeLearning
{
    private const int EwmaShift = 3; // alpha = 1/8
    private const int PayoffShift = 10;

    /// <summary>The least share of replies within the limit (in 1/1024ths) for which spinning is worth it: a quarter.</summary>
    public const long MinPayoff = 1L << (PayoffShift - 2);

    private readonly long _limitTicks;
    private readonly long _minBudgetTicks;
    private long _replyTicks;
    private long _payoff = 1L << PayoffShift;

    /// <summary>Creates the learning for spins of at most <paramref name="limitTicks"/> and at least <paramref name="minBudgetTicks"/> (Stopwatch ticks).</summary>
    public ReplyTimeLearning(long limitTicks, long minBudgetTicks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limitTicks);
        _limitTicks = limitTicks;
        _minBudgetTicks = Math.Clamp(minBudgetTicks, 0, limitTicks);
        _replyTicks = limitTicks / 4;
    }

    /// <summary>The learned flush-to-reply time, in Stopwatch ticks.</summary>
    public long ReplyTicks => Volatile.Read(ref _replyTicks);

    /// <summary>The share of recent replies that came within the limit, in 1/1024ths.</summary>
    public long Payoff => Volatile.Read(ref _payoff);

    /// <summary>How long the next owed reply is spun for (0: park), in Stopwatch ticks.</summary>
    public long BudgetTicks => Payoff < MinPayoff ? 0 : Math.Clamp(2 * ReplyTicks, _minBudgetTicks, _limitTicks);

    /// <summary>An owed reply arrived <paramref name="replyTicks"/> after the flush that made it owed.</summary>
    public void Learn(long replyTicks)
    {
        replyTicks = Math.Clamp(replyTicks, 0, 16 * _limitTicks); // one very late reply (an idle pause) must not swamp the mean
        var hit = replyTicks <= _limitTicks ? 1L << PayoffShift : 0;
        Volatile.Write(ref _payoff, _payoff + ((hit - _payoff) >> EwmaShift));
        Volatile.Write(ref _replyTicks, _replyTicks + ((replyTicks - _replyTicks) >> EwmaShift));
    }
}
