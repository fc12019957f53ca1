using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// The group pages a channel group waits on, one per peer partition, parked on all at once with futex_waitv (so at
/// most <see cref="Futex.MaxWaitAnyCount"/>; the hypervisor refuses a grouped connection from a 129th peer). Each
/// page is written by one peer, which may be hostile: a page whose events keep bringing nothing (pending bits with no
/// ready member, futex word bumps with nothing pending: the flood that would otherwise turn the wait into a busy
/// loop) is demoted after <see cref="SpuriousLimit"/> of them: never read nor waited on again, its members polled
/// every <see cref="GroupReceiver.DemotedPollInterval"/>. The other pages never wait on it. Not thread safe.
/// </summary>
internal sealed unsafe class GroupPageSet : ISleepSite
{
    /// <summary>Net spurious events (one useful event pays one back) before a page is demoted.</summary>
    public const int SpuriousLimit = 32;

    private readonly GroupPageSlot[] _armed = new GroupPageSlot[Futex.MaxWaitAnyCount];
    private readonly List<GroupPageSlot> _demoted = [];
    private int _armedCount;
    private long _raisedAt;

    /// <summary>Pages read and waited on.</summary>
    public ReadOnlySpan<GroupPageSlot> Armed => _armed.AsSpan(0, _armedCount);

    /// <summary>Pages demoted to polling.</summary>
    public IReadOnlyList<GroupPageSlot> Demoted => _demoted;

    /// <summary>Pages demoted since the set was made (for tests and statistics).</summary>
    public int Demotions { get; private set; }

    /// <summary>The slot for <paramref name="page"/>, or null.</summary>
    public GroupPageSlot? Find(InterruptPage page)
    {
        foreach (var slot in Armed)
        {
            if (slot.Page == page)
            {
                return slot;
            }
        }
        foreach (var slot in _demoted)
        {
            if (slot.Page == page)
            {
                return slot;
            }
        }
        return null;
    }

    /// <summary>Adds a page (its group leased by the slot).</summary>
    /// <exception cref="InvalidOperationException">The set already holds <see cref="Futex.MaxWaitAnyCount"/> pages, or another receiver (<paramref name="owner"/> is this one) waits on the page.</exception>
    public GroupPageSlot Add(InterruptGroup group, object owner)
    {
        if (_armedCount + _demoted.Count >= _armed.Length)
        {
            throw new InvalidOperationException($"A channel group waits on at most {_armed.Length} group pages (one per peer partition, futex_waitv's limit); remove the channels that ended first.");
        }
        var slot = new GroupPageSlot(group, owner);
        _armed[_armedCount++] = slot;
        return slot;
    }

    /// <summary>Drops a page with its last member: the peer's later writes to it reach nobody.</summary>
    public void Remove(GroupPageSlot slot)
    {
        if (!_demoted.Remove(slot))
        {
            RemoveArmed(slot);
        }
        slot.Dispose();
    }

    /// <summary>Whether any armed page has pending bits (one load per page).</summary>
    public bool AnyPending()
    {
        foreach (var slot in Armed)
        {
            if (slot.Page.HasPending)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Events a member's removal may still cause on its page with nothing behind them: a raise its peer made before
    /// the ring was disarmed, the peer's close and our own Dispose raising a vector the group no longer holds.
    /// </summary>
    public const int RemovalCredit = 4;

    /// <summary>
    /// The most credit removals can bank: a peer that churned channels earlier cannot buy more than this many free
    /// events for a flood later (with <see cref="SpuriousLimit"/>, a flood is demoted within 160 events).
    /// </summary>
    public const int MaxCredit = 128;

    /// <summary>A member left the page: what its removal may still raise is paid for in advance (bounded by <see cref="MaxCredit"/>).</summary>
    public static void CreditRemoval(GroupPageSlot slot) => slot.Spurious = Math.Max(slot.Spurious - RemovalCredit, -MaxCredit);

    /// <summary>A page event that brought something: pays one spurious event back.</summary>
    public static void NoteUseful(GroupPageSlot slot)
    {
        if (slot.Spurious > 0)
        {
            slot.Spurious--;
        }
    }

    /// <summary>A page event that brought nothing; too many and the page is demoted.</summary>
    public void NoteSpurious(GroupPageSlot slot)
    {
        if (++slot.Spurious < SpuriousLimit || slot.Demoted)
        {
            return;
        }
        slot.Demoted = true;
        RemoveArmed(slot);
        _demoted.Add(slot);
        Demotions++;
        IicEventSource.Log.ProtocolFault("channel group", 0, $"a peer's group page brought {SpuriousLimit} events with nothing behind them; it is no longer waited on, its channels are polled every {GroupReceiver.DemotedPollInterval.TotalMilliseconds} ms");
    }

    /// <inheritdoc />
    public SleepCheck PrepareSleep<TTarget>(ref TTarget target, out int sequence)
        where TTarget : struct, IWaitTarget
    {
        // The Dekker half of InterruptPage.PrepareSleep on every page: read its word, announce (full fence), then
        // re-check every page (the target). A raise on any page either sees our announcement or is seen here.
        sequence = 0;
        foreach (var slot in Armed)
        {
            slot.Sequence = slot.Page.ReadSequence();
            slot.Page.AnnounceSleep();
        }
        if (target.IsReady)
        {
            CancelSleep();
            return SleepCheck.Ready;
        }
        return SleepCheck.Announced;
    }

    /// <inheritdoc />
    public FutexWaitResult Sleep(int sequence, TimeSpan timeout)
    {
        FutexWaitResult result;
        if (_armedCount == 0)
        {
            // Nothing to wait on (no members, or every page demoted): the caller's deadline bounds this.
            Thread.Sleep(timeout == Timeout.InfiniteTimeSpan || timeout > TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : timeout);
            result = FutexWaitResult.TimedOut;
        }
        else
        {
            Span<FutexWaitTarget> targets = stackalloc FutexWaitTarget[_armedCount];
            for (var i = 0; i < _armedCount; i++)
            {
                targets[i] = new FutexWaitTarget(_armed[i].Page.SequenceWord, _armed[i].Sequence);
            }
            result = Futex.WaitAny(targets, timeout, out _);
        }
        _raisedAt = 0;
        for (var i = _armedCount - 1; i >= 0; i--) // backwards: a demotion moves the last page into slot i
        {
            var slot = _armed[i];
            slot.Page.CancelSleep();
            if (slot.Page.ReadSequence() == slot.Sequence)
            {
                continue;
            }
            if (slot.Page.HasPending)
            {
                _raisedAt = slot.Page.ReadRaisedAt(); // a waker sets its pending bit before it bumps the word
            }
            else
            {
                NoteSpurious(slot); // the word moved with nothing pending: futex_waitv would return at once, again and again
            }
        }
        return result;
    }

    /// <inheritdoc />
    public void ClearPending()
    {
        // Never called: the pending bits are the group's readiness, taken by the receiver itself.
    }

    /// <inheritdoc />
    public long ReadRaisedAt() => _raisedAt;

    private void CancelSleep()
    {
        foreach (var slot in Armed)
        {
            slot.Page.CancelSleep();
        }
    }

    private void RemoveArmed(GroupPageSlot slot)
    {
        for (var i = 0; i < _armedCount; i++)
        {
            if (_armed[i] == slot)
            {
                _armed[i] = _armed[--_armedCount];
                _armed[_armedCount] = null!;
                return;
            }
        }
    }
}
