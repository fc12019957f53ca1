using System.Buffers;
using System.Runtime.CompilerServices;
using IIC.Native;

namespace IIC.Transport;

/// <summary>The receiving role, zero copy: poll without waiting, and poll with a wait (one entry into the role for the poll, the wait and the poll after it).</summary>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to <paramref name="handler"/> without copying: the span
    /// points into the ring and is valid only during the call. Fragmented messages are reassembled into a
    /// buffer kept for reuse. If the handler throws, its message stays unread and is handed out again.
    /// </summary>
    /// <returns>The number of messages handled (0 when none are waiting).</returns>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Poll<TState>(ReadOnlySpanAction<byte, TState> handler, TState state, int limit = int.MaxValue)
    {
        var adapter = new DelegateMessageHandler<TState>(handler, state);
        return Poll(ref adapter, limit);
    }

    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to a struct <paramref name="handler"/> without copying
    /// (see <see cref="Poll{TState}(ReadOnlySpanAction{byte, TState}, TState, int)"/>).
    /// </summary>
    /// <returns>The number of messages handled (0 when none are waiting).</returns>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Poll<THandler>(ref THandler handler, int limit = int.MaxValue)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        EnterReceiving();
        try
        {
            ThrowIfPeerEnded();
            return PollOnce(ref handler, limit);
        }
        finally
        {
            ExitReceiving();
        }
    }

    /// <summary>One pass of <see cref="Poll{THandler}(ref THandler, int)"/>; the caller is inside the receive role.</summary>
    private int PollOnce<THandler>(ref THandler handler, int limit)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        var handled = 0;
        try
        {
            while (handled < limit && _disposed == 0) // a handler may dispose the channel: stop, then release
            {
                if (_assembling)
                {
                    if (_discarding)
                    {
                        if (!ContinueDiscard())
                        {
                            if (handled == 0)
                            {
                                ThrowIfPeerGoneAndEmpty(midMessage: true);
                            }
                            break; // its rest has not arrived yet
                        }
                        continue; // dropped to its end: look for the next message
                    }
                    if (_assemblyFilled < _assemblyLength && !ContinueAssembly())
                    {
                        if (!_assembling)
                        {
                            continue; // the sender abandoned it: nothing to hand out, look for the next message
                        }
                        if (handled == 0)
                        {
                            ThrowIfPeerGoneAndEmpty(midMessage: true);
                        }
                        break;
                    }
                    handler.OnMessage(new ReadOnlySpan<byte>(_assembly, 0, _assemblyLength));
                    _assembling = false; // only now: if the handler threw, the message is handed out again
                    Count(_assemblyLength);
                    handled++;
                    continue;
                }
                if (!_reader.TryPeek(out var type, out var payload))
                {
                    if (handled == 0)
                    {
                        ThrowIfPeerGoneAndEmpty();
                    }
                    break;
                }
                if (type == s_unfragmented)
                {
                    handler.OnMessage(payload);
                    _reader.ConsumeLazily();
                    Count(payload.Length);
                    handled++;
                    continue;
                }
                var total = ValidateBegin(type, payload);
                if (total > _maxReceiveLength)
                {
                    if (handled > 0)
                    {
                        break; // hand out the messages before it first: the next call refuses it
                    }
                    RefuseOverLimit(total, payload);
                }
                BeginAssembly(total, payload);
            }
        }
        finally
        {
            if (handled == 0)
            {
                // Found the ring empty (the caller may wait next): clear and return what earlier calls consumed; no
                // store when nothing waits to be returned.
                _reader.PublishHeadIfStale();
            }
            else
            {
                // Messages were handed out: the caller acts on them now (a reply, say), so the last consumed lines are
                // returned by its next call that finds the ring empty, off this hop's critical path (RingReader.HoldBackLimit).
                _reader.PublishHeadIfOverdue();
            }
        }
        return handled;
    }

    /// <summary>
    /// The entry of the poll and receive fast paths (issue 17, round 10), which never throws: enters the receive role and
    /// looks for a whole one-record message at the head (RingReader.TryPeekFast); if the ring is empty and
    /// <paramref name="spin"/> says the wait starts with the clock-free spin, it returns what earlier calls consumed and
    /// spins (<see cref="SpinForRecord"/>) and looks once more. True: inside the receive role with the record peeked
    /// (the caller hands it out, consumes it and leaves the role). False: the role was left and nothing consumed; a
    /// disposed endpoint, a peer that ended, a message in reassembly, nothing in time, padding, a fragment or a record the
    /// reader would fault on all decline, and the caller takes the old path, which throws, waits or reassembles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryEnterWithRecord(bool spin, out ReadOnlySpan<byte> payload) => TryEnterWithRecord(spin, out payload, out _);

    /// <summary><see cref="TryEnterWithRecord(bool, out ReadOnlySpan{byte})"/>, saying how many looks the spin took to see the record (0: it was there at once).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryEnterWithRecord(bool spin, out ReadOnlySpan<byte> payload, out int looks)
    {
        // L2 as EnterReceiving: flag, then load _disposed (partner L1); declining instead of throwing.
        Volatile.Write(ref _receiving.Value, 1);
        looks = 0;
        if (Volatile.Read(ref _disposed) == 0 && _peerEnded == 0 && !_assembling
            && (_reader.TryPeekFast(s_unfragmented, out payload) || (spin && SpinForRecord(out payload, out looks))))
        {
            return true;
        }
        ExitReceiving();
        payload = default;
        return false;
    }

    /// <summary>
    /// The poll fast path after <see cref="TryEnterWithRecord(bool, out ReadOnlySpan{byte}, out int)"/> returned true: hands <paramref name="payload"/> to
    /// <paramref name="handler"/>, consumes it (lazily, as <see cref="PollOnce"/>) and counts it, then the whole one-record
    /// messages that follow, up to <paramref name="limit"/>, and leaves the receive role. No exception handler here: if the
    /// handler throws, its message stays unread (not consumed) and the caller, whose one handler catches it, leaves the role
    /// with <see cref="LeaveAfterHandlerFault"/>. A handler that disposes the channel ends the loop (the mapping stays
    /// until the role is left). Stops early, with fewer than <paramref name="limit"/>, at anything that is not such a
    /// message (the next call takes it by the old path).
    /// </summary>
    /// <returns>The messages handled (at least 1).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int HandleFast<THandler>(ref THandler handler, int limit, ReadOnlySpan<byte> payload)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        var handled = 0;
        while (true)
        {
            handler.OnMessage(payload);
            _reader.ConsumePeekedLazily(); // only now: if the handler threw, the message is handed out again (TryPeekFast peeked it)
            Count(payload.Length);
            handled++;
            if (handled >= limit || Volatile.Read(ref _disposed) != 0 || !_reader.TryPeekFast(s_unfragmented, out payload))
            {
                break;
            }
        }
        ExitReceiving();
        return handled;
    }

    /// <summary>Leaves the receive role after a handler of <see cref="HandleFast"/> threw (its message was not consumed).</summary>
    internal void LeaveAfterHandlerFault() => ExitReceiving();

    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to <paramref name="handler"/> in place, waiting (by the channel's
    /// wait strategy) at most <paramref name="timeout"/> for the first one. The clock is read only when the ring is
    /// empty, and not before a short clock-free first spin (<see cref="SpinBeforeClock"/>): a message that is already there,
    /// or arrives within that spin, costs what <see cref="Poll{THandler}(ref THandler, int)"/> costs.
    /// </summary>
    /// <returns>The number of messages handled; 0 when none arrived in time.</returns>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="InvalidOperationException">The endpoint is in a channel group and <paramref name="timeout"/> is not zero.</exception>
    /// <exception cref="ObjectDisposedException">The channel was disposed (also while this call waited).</exception>
    /// <param name="handler">Called with each message.</param>
    /// <param name="limit">The most messages to hand out.</param>
    /// <param name="timeout">The longest to wait for the first (validated by the caller).</param>
    /// <param name="spun">The caller's fast path looked first, with the clock-free spin if the ring was empty, and declined: no second spin (a decline at a fragment or padding found at once skips it too; the waiter still spins by its strategy).</param>
    public int Poll<THandler>(ref THandler handler, int limit, TimeSpan timeout, bool spun = false)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        EnterReceiving();
        try
        {
            if (timeout != TimeSpan.Zero)
            {
                BeginWaitAlone(); // before anything is received: a grouped endpoint in a group waits with the group, not here
            }
            ThrowIfPeerEnded();
            var handled = PollOnce(ref handler, limit);
            if (handled > 0 || timeout == TimeSpan.Zero)
            {
                return handled;
            }
            if (!spun && SpinBeforeClock(timeout))
            {
                handled = PollOnce(ref handler, limit);
                if (handled > 0)
                {
                    return handled;
                }
            }
            return WaitAndPoll(ref handler, limit, timeout);
        }
        finally
        {
            EndWaitAlone();
            ExitReceiving();
        }
    }

    /// <summary>
    /// The waiting part of <see cref="Poll{THandler}(ref THandler, int, TimeSpan, bool)"/>, out of line (the caller is inside the
    /// receive role), as <see cref="WaitAndReceive"/>: no P/Invoke frame set-up in the prolog of a poll that finds a message.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int WaitAndPoll<THandler>(ref THandler handler, int limit, TimeSpan timeout)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        var deadline = Deadline.After(timeout, nameof(timeout)); // validated by the caller: cannot throw here
        while (true)
        {
            var target = new ReadTarget(this);
            if (!_waiter.Wait(ref target, deadline.Timestamp))
            {
                return 0;
            }
            ThrowIfDisposed(); // disposed from another thread while we waited
            var handled = PollOnce(ref handler, limit);
            if (handled > 0)
            {
                return handled;
            }
            // Ready but nothing whole to hand out (a fragmented message still arriving): wait again.
        }
    }
}
