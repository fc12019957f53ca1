using System.Buffers;
using IIC.Hardware;

namespace IIC.Transport;

// IicChannel, receiving: copy, timeout, token, async and zero-copy poll, each through the receive gate (RoleGate).
public sealed partial class IicChannel
{
    /// <summary>
    /// Receives one message into <paramref name="destination"/>, waiting for it.
    /// </summary>
    /// <returns>The message length.</returns>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread (the exception says the size needed).</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer sent a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped; the next receive returns the message after it.</exception>
    /// <exception cref="InvalidOperationException">Another thread is receiving on a <see cref="ChannelOptions.SingleReader"/> channel, or the channel is in an <see cref="IicChannelGroup"/> (wait with the group, or remove it first).</exception>
    public int Receive(Span<byte> destination)
    {
        ReceiveWithin(destination, out var length, Native.Deadline.Infinite, default);
        return length;
    }

    /// <summary>Receives one message, waiting until it arrives or <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <exception cref="OperationCanceledException">Cancelled before a message arrived.</exception>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread (the exception says the size needed).</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer sent a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped; the next receive returns the message after it.</exception>
    /// <exception cref="InvalidOperationException">Another thread is receiving on a <see cref="ChannelOptions.SingleReader"/> channel, or the channel is in an <see cref="IicChannelGroup"/> (wait with the group, or remove it first).</exception>
    public int Receive(Span<byte> destination, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return Receive(destination);
        }
        // The waiter sleeps until rung, and the token's cancellation rings it (WindowEndpoint.Receive): no polling.
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_receiveGate.Enter(Options.SingleReader, GateRole.Receive, Native.Deadline.Infinite, this, cancellationToken))
            {
                try
                {
                    return _endpoint.Receive(destination, cancellationToken);
                }
                finally
                {
                    _receiveGate.Exit();
                }
            }
        }
    }

    /// <summary>Receives one message if one is waiting now (and no other thread is receiving).</summary>
    /// <returns>False when none is waiting.</returns>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread (the exception says the size needed).</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer sent a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped; the next receive returns the message after it.</exception>
    /// <exception cref="InvalidOperationException">Another thread is receiving on a <see cref="ChannelOptions.SingleReader"/> channel.</exception>
    public bool TryReceive(Span<byte> destination, out int length) => ReceiveWithin(destination, out length, Native.Deadline.Immediate, default);

    /// <summary>Receives one message, waiting at most <paramref name="timeout"/>.</summary>
    /// <param name="destination">Where the message is copied.</param>
    /// <param name="length">The message length.</param>
    /// <param name="timeout">Zero to try once; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit.</param>
    /// <returns>False when none arrived in time.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit] // as Send: its prolog zeroed 40 bytes of locals every call that C# assigns before use anyway
    public bool TryReceive(Span<byte> destination, out int length, TimeSpan timeout)
    {
        Native.Deadline.ThrowIfNegative(timeout, nameof(timeout)); // before anything is taken
        // A message is there: take it without reading the clock; the deadline is computed only to wait, and the
        // receive side is entered once for both. The receive side's biased owner enters with no thread static, static field or call (RoleGate.TryEnterOwnerFast,
        // as Send's and TryClaim's lean entries, round 21); everyone else by the gate's full rules.
        if (!Options.Grouped && (_receiveGate.TryEnterOwnerFast() || _receiveGate.TryEnter(Options.SingleReader, GateRole.Receive)))
        {
            // A whole message that fits, there or arriving within the clock-free first spin, without an exception handler
            // (it cannot throw); everything else under the handler, which then does not spin again.
            if (_endpoint.TryReceiveFast(destination, out length, timeout, out var looks))
            {
                NoteReceive(looks);
                _receiveGate.Exit();
                return true;
            }
            return TryReceiveEntered(destination, out length, timeout);
        }
        return ReceiveWithin(destination, out length, Native.Deadline.After(timeout, nameof(timeout)), default);
    }

    /// <summary><see cref="TryReceive(Span{byte}, out int, TimeSpan)"/> past its fast path, holding the receive gate, under a handler that releases it.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool TryReceiveEntered(Span<byte> destination, out int length, TimeSpan timeout)
    {
        try
        {
            // The fast path made the first spin if the wait starts with one (the same rule): not again.
            return _endpoint.TryReceive(destination, out length, timeout, spun: _endpoint.SpinsFirstFor(timeout)); // validated by the caller
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    private bool ReceiveWithin(Span<byte> destination, out int length, Native.Deadline deadline, CancellationToken cancellationToken)
    {
        if (!_receiveGate.Enter(Options.SingleReader, GateRole.Receive, deadline, this, cancellationToken))
        {
            length = 0;
            return false;
        }
        // A whole message that fits, without an exception handler (it cannot throw). Not for a grouped channel: its waiting
        // receive must refuse to run while the channel is in a group (the endpoint checks that first), message or not.
        // An infinite wait (Receive) first spins clock-free for it, as TryReceive with a timeout does (the old path's own
        // wait spins too, after its handlers and clock reads).
        if (!Options.Grouped && _endpoint.TryReceiveFast(destination, out length, deadline.IsInfinite ? Timeout.InfiniteTimeSpan : TimeSpan.Zero, out var looks))
        {
            NoteReceive(looks);
            _receiveGate.Exit();
            return true;
        }
        return ReceiveWithinEntered(destination, out length, deadline);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool ReceiveWithinEntered(Span<byte> destination, out int length, Native.Deadline deadline)
    {
        try
        {
            return _endpoint.TryReceive(destination, out length, deadline);
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary>
    /// Receives one message asynchronously. While it waits no thread is held: a shared dispatcher thread polls this
    /// channel's ring while traffic is continuous (a learned budget, as <see cref="WaitKind.Adaptive"/>) and otherwise
    /// sleeps on its interrupt page (with futex_waitv, many channels per thread), then resumes the receive on the thread
    /// pool, or on the dispatcher with <see cref="ChannelOptions.UnsafePreferInlineCompletions"/>. It spins briefly on the
    /// calling thread only while that dispatcher is parked. One receive at a time.
    /// </summary>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer sent a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped; the next receive returns the message after it.</exception>
    /// <exception cref="OperationCanceledException">Cancelled before a message arrived.</exception>
    /// <exception cref="InvalidOperationException">The channel is in an <see cref="IicChannelGroup"/> (wait with the group, or remove it first).</exception>
    public ValueTask<int> ReceiveAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        _endpoint.PrepareAsyncWait(); // in a group: throws (the group waits for it); out of one: the peer rings its own block
        if (_receiveGate.TryEnter(Options.SingleReader, GateRole.Receive))
        {
            try
            {
                if (TryReceiveWithoutWaiting(destination.Span, out var length)
                    || (ShouldSpinInline() && _endpoint.WaitToReceive(SpinDeadline()) && TryReceiveWithoutWaiting(destination.Span, out length)))
                {
                    return new ValueTask<int>(length);
                }
            }
            finally
            {
                _receiveGate.Exit();
            }
        }
        return ReceiveSlowAsync(destination, cancellationToken);
    }

    // Pooled state machines: a receive that waits allocates nothing in the steady state (as the runtime's sockets do).
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReceiveSlowAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await WaitForAsyncTurnAsync(cancellationToken).ConfigureAwait(false);
            if (TryReceiveAsyncTurn(destination.Span, out var length, out var gateBusy))
            {
                return length;
            }
            if (gateBusy)
            {
                // A synchronous receiver holds the receive side (it may be parked): look again shortly.
                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Waits on the channel's one <see cref="AsyncReceiveSource"/>. Another async receiver already waiting on it is misuse
    /// on a SingleReader channel (the source throws); on a default channel this receiver takes its turn, looking again
    /// every millisecond (only while two async receives overlap; the single-waiter path allocates nothing).
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitForAsyncTurnAsync(CancellationToken cancellationToken)
    {
        if (Options.SingleReader)
        {
            await _asyncReceive.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        ValueTask wait;
        while (!_asyncReceive.TryStartWait(cancellationToken, out wait))
        {
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
        await wait.ConfigureAwait(false);
    }

    private bool TryReceiveAsyncTurn(Span<byte> destination, out int length, out bool gateBusy)
    {
        length = 0;
        gateBusy = !_receiveGate.TryEnter(Options.SingleReader, GateRole.Receive);
        if (gateBusy)
        {
            return false;
        }
        try
        {
            return TryReceiveWithoutWaiting(destination, out length);
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary>
    /// Receives one whole message if it is there, never waiting: a message still arriving in fragments is gathered
    /// across calls (in the endpoint's reassembly buffer), so an asynchronous receive never blocks its thread.
    /// The caller holds the receive gate.
    /// </summary>
    private bool TryReceiveWithoutWaiting(Span<byte> destination, out int length)
    {
        var copy = new CopyOut(destination);
        var handled = _endpoint.Poll(ref copy, 1);
        length = copy.Length;
        return handled == 1;
    }

    /// <summary>Copies a message out; a buffer that is too small throws and leaves the message unread.</summary>
    private ref struct CopyOut(Span<byte> destination) : IMessageHandler
    {
        private readonly Span<byte> _destination = destination;

        public int Length { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            if (message.Length > _destination.Length)
            {
                ThrowHelper.MessageTooLarge(message.Length, _destination.Length);
            }
            message.CopyTo(_destination);
            Length = message.Length;
        }
    }

    /// <summary>Waits asynchronously until a message (or the end of the channel) is ready to receive.</summary>
    /// <exception cref="OperationCanceledException">Cancelled first.</exception>
    /// <exception cref="InvalidOperationException">The channel is in an <see cref="IicChannelGroup"/> (wait with the group, or remove it first).</exception>
    public ValueTask WaitToReceiveAsync(CancellationToken cancellationToken = default)
    {
        _endpoint.PrepareAsyncWait();
        if (_receiveGate.TryEnter(Options.SingleReader, GateRole.Receive))
        {
            try
            {
                if (ShouldSpinInline() ? _endpoint.WaitToReceive(SpinDeadline()) : _endpoint.IsReceiveReady)
                {
                    return ValueTask.CompletedTask;
                }
            }
            finally
            {
                _receiveGate.Exit();
            }
        }
        if (Options.SingleReader)
        {
            return _asyncReceive.WaitAsync(cancellationToken);
        }
        return _asyncReceive.TryStartWait(cancellationToken, out var wait) ? wait : WaitForAsyncTurnAsync(cancellationToken);
    }

    /// <summary>Waits (holding the receive side) until a message or the end is ready, or <paramref name="deadline"/> passes.</summary>
    internal bool WaitToReceive(Native.Deadline deadline) => WaitToReceive(deadline, null);

    /// <summary>As <see cref="WaitToReceive(Native.Deadline)"/>, also ended by <paramref name="wakeRequest"/> (see <see cref="WindowEndpoint.WaitToReceive(Native.Deadline, System.Runtime.CompilerServices.StrongBox{int})"/>).</summary>
    internal bool WaitToReceive(Native.Deadline deadline, System.Runtime.CompilerServices.StrongBox<int>? wakeRequest)
    {
        if (!_receiveGate.Enter(Options.SingleReader, GateRole.Receive, deadline, this, default))
        {
            return false;
        }
        try
        {
            return wakeRequest is null ? _endpoint.WaitToReceive(deadline) : _endpoint.WaitToReceive(deadline, wakeRequest);
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary>
    /// Hands up to <paramref name="limit"/> waiting messages to <paramref name="handler"/> in place (zero copy
    /// on the way out); the span is valid only during the call. Does not wait (also not for another receiving
    /// thread: then it returns 0). A static lambda with <paramref name="state"/> allocates nothing. The handler must
    /// not receive from this channel.
    /// </summary>
    /// <returns>The number of messages handled.</returns>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer sent a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped; the next receive returns the message after it.</exception>
    /// <exception cref="InvalidOperationException">Another thread is receiving on a <see cref="ChannelOptions.SingleReader"/> channel, or the handler receives from this channel.</exception>
    public int Poll<TState>(ReadOnlySpanAction<byte, TState> handler, TState state, int limit = int.MaxValue)
    {
        if (!_receiveGate.TryEnter(Options.SingleReader, GateRole.Receive))
        {
            return 0;
        }
        try
        {
            return _endpoint.Poll(handler, state, limit);
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary>Like <see cref="Poll{TState}(ReadOnlySpanAction{byte, TState}, TState, int)"/> with a struct handler (specialised, no allocation).</summary>
    public int Poll<THandler>(ref THandler handler, int limit = int.MaxValue)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        if (!_receiveGate.TryEnter(Options.SingleReader, GateRole.Receive))
        {
            return 0;
        }
        try
        {
            return _endpoint.Poll(ref handler, limit);
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to <paramref name="handler"/> in place (zero copy on the way out,
    /// as <see cref="Poll{THandler}(ref THandler, int)"/>), waiting at most <paramref name="timeout"/> for the first
    /// one: spinning, then parking, as the channel's <see cref="ChannelOptions.WaitStrategy"/> says. The receive side is
    /// entered once for the poll, the wait and the poll after it, and the clock is read only when nothing is waiting,
    /// so a request/reply loop pays for one receive, not three. Allocates nothing. The handler must not receive from
    /// this channel.
    /// </summary>
    /// <param name="handler">Called with each message; the span is valid only during the call. If it throws, its message stays unread.</param>
    /// <param name="limit">The most messages to hand out in this call; at least 1.</param>
    /// <param name="timeout">Zero to try once; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit.</param>
    /// <returns>The number of messages handled; 0 when none arrived in time.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limit"/> is below 1, or a negative timeout (other than infinite); nothing was received.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer sent a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped; the next receive returns the message after it.</exception>
    /// <exception cref="InvalidOperationException">Another thread is receiving on a <see cref="ChannelOptions.SingleReader"/> channel, the handler receives from this channel, or the channel is in an <see cref="IicChannelGroup"/> and <paramref name="timeout"/> is not zero (wait with the group, or remove it first).</exception>
    /// <exception cref="ObjectDisposedException">The channel was disposed (also while this call waited).</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    public int Poll<THandler>(ref THandler handler, int limit, TimeSpan timeout)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        // The lean fast path (issue 17, round 12): valid arguments (a limit of 1 or more, a timeout of zero or more: the
        // infinite one takes the full path), an ungrouped channel, and the receive side's biased owner entering with no
        // thread static, static field or call (RoleGate.TryEnterOwnerFast); then the round-10 fast path below, unchanged.
        // Everything else (argument errors, a grouped channel, another thread, misuse, a revoked bias, the first entry) is
        // out of line in PollFull, which decides exactly as before; so this method's frame holds the hop and little else.
        if (limit > 0 && timeout.Ticks >= 0 && !Options.Grouped && _receiveGate.TryEnterOwnerFast())
        {
            var spin = _endpoint.SpinsFirstFor(timeout);
            if (_endpoint.TryEnterWithRecord(spin, out var payload))
            {
                int handled;
                try
                {
                    handled = _endpoint.HandleFast(ref handler, limit, payload);
                }
                catch
                {
                    _endpoint.LeaveAfterHandlerFault();
                    _receiveGate.Exit();
                    throw;
                }
                _receiveGate.Exit();
                return handled;
            }
            return PollEntered(ref handler, limit, timeout, spin);
        }
        return PollFull(ref handler, limit, timeout);
    }

    /// <summary><see cref="Poll{THandler}(ref THandler, int, TimeSpan)"/> when its lean entry declined: validates, enters by the gate's full rules, then as before.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private int PollFull<THandler>(ref THandler handler, int limit, TimeSpan timeout)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1); // before anything is taken
        Native.Deadline.ThrowIfNegative(timeout, nameof(timeout));
        if (_receiveGate.TryEnter(Options.SingleReader, GateRole.Receive))
        {
            // The fast path (issue 17, round 10): a whole one-record message, there or arriving within the clock-free first
            // spin, is handed out under this one handler (the user's handler may throw: then the role and the gate are
            // left and its message stays unread), not the old path's three nested ones. Not for a grouped channel: its
            // waiting poll must refuse to run while the channel is in a group (the endpoint checks that first).
            var spin = false;
            if (!Options.Grouped)
            {
                spin = _endpoint.SpinsFirstFor(timeout);
                if (_endpoint.TryEnterWithRecord(spin, out var payload))
                {
                    int handled;
                    try
                    {
                        handled = _endpoint.HandleFast(ref handler, limit, payload);
                    }
                    catch
                    {
                        _endpoint.LeaveAfterHandlerFault();
                        _receiveGate.Exit();
                        throw;
                    }
                    _receiveGate.Exit();
                    return handled;
                }
            }
            return PollEntered(ref handler, limit, timeout, spin);
        }
        // Another thread receives on a default channel: take our turn within the same time.
        var deadline = Native.Deadline.After(timeout, nameof(timeout));
        if (!_receiveGate.Enter(Options.SingleReader, GateRole.Receive, deadline, this, default))
        {
            return 0;
        }
        try
        {
            return _endpoint.Poll(ref handler, limit, RemainingUntil(deadline));
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary><see cref="Poll{THandler}(ref THandler, int, TimeSpan)"/> past its fast path, holding the receive gate, under a handler that releases it.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private int PollEntered<THandler>(ref THandler handler, int limit, TimeSpan timeout, bool spun)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        try
        {
            return _endpoint.Poll(ref handler, limit, timeout, spun); // validated by the caller
        }
        finally
        {
            _receiveGate.Exit();
        }
    }

    /// <summary>The time left until <paramref name="deadline"/> (zero once it passed; infinite stays infinite).</summary>
    private static TimeSpan RemainingUntil(Native.Deadline deadline)
    {
        if (deadline.IsInfinite)
        {
            return Timeout.InfiniteTimeSpan;
        }
        var left = deadline.Timestamp - System.Diagnostics.Stopwatch.GetTimestamp();
        return left <= 0 ? TimeSpan.Zero : System.Diagnostics.Stopwatch.GetElapsedTime(0, left);
    }

    /// <summary>
    /// Whether an async receive spins on the caller's thread before handing the wait over. Not on a dispatcher thread
    /// (an inline continuation: spinning there would stall the other receivers it serves), and not while this channel's
    /// dispatcher is polling anyway (it catches the message within a poll round without taking a pool thread).
    /// </summary>
    private bool ShouldSpinInline() => !InterruptDispatcher.OnDispatcherThread && !_asyncReceive.DispatcherIsPolling;

    /// <summary>
    /// How long an async receive spins on the caller's thread before handing the wait to the dispatcher: the wait
    /// strategy's budget, but at most 20 µs. The caller is usually a thread-pool thread, and the work an async
    /// consumer waits for (an HTTP/2 frame's reply, say) often needs that very pool: a longer inline spin
    /// delayed gRPC round trips from ~0.2 ms to ~2 ms.
    /// </summary>
    private Native.Deadline SpinDeadline()
    {
        var budget = _endpoint.Waiter.CurrentSpinBudget;
        return Native.Deadline.After(budget < s_asyncSpinCap ? budget : s_asyncSpinCap);
    }

    private static readonly TimeSpan s_asyncSpinCap = TimeSpan.FromMicroseconds(20);
}
