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
                BeginAssembly(type, payload, int.MaxValue);
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
    public int Poll<THandler>(ref THandler handler, int limit, TimeSpan timeout)
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
            if (SpinBeforeClock(timeout))
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
    /// The waiting part of <see cref="Poll{THandler}(ref THandler, int, TimeSpan)"/>, out of line (the caller is inside the
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
