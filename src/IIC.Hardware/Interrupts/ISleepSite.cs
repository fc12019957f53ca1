using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Where a <see cref="Waiter"/> parks: one <see cref="InterruptPage"/> (a ring's own block, or a group page), or a
/// set of pages a channel group waits on at once with futex_waitv. The members are the receiver's half of the
/// wake-up protocol, as <see cref="InterruptPage"/> documents them.
/// </summary>
internal interface ISleepSite
{
    /// <summary>Reads the futex word(s), announces sleep with a full fence, and re-checks the target (see <see cref="InterruptPage.PrepareSleep"/>).</summary>
    SleepCheck PrepareSleep<TTarget>(ref TTarget target, out int sequence)
        where TTarget : struct, IWaitTarget;

    /// <summary>Sleeps while the futex word(s) still hold what <see cref="PrepareSleep"/> read, at most <paramref name="timeout"/>; withdraws the announcement.</summary>
    FutexWaitResult Sleep(int sequence, TimeSpan timeout);

    /// <summary>Clears stale pending bits (single-ring receivers only).</summary>
    void ClearPending();

    /// <summary>The waker's timestamp of the last wake (Stopwatch ticks), read once; 0 if none.</summary>
    long ReadRaisedAt();
}
