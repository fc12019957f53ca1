namespace IIC.Transport;

// IicChannel, request and reply in one call (issue 17, round 25; docs/architecture.md, "A request's reply is looked for
// fenced"): the receive knows it awaits the answer to its send, so its spin looks fenced, and no other receive pays for
// the choice.
public sealed partial class IicChannel
{
    /// <summary>
    /// Sends <paramref name="message"/> and receives the next message, the answer, into <paramref name="destination"/>, as
    /// MPI's <c>MPI_Sendrecv</c>: for the side of a request/reply protocol that waits for an answer (a client sending
    /// requests). The same as <see cref="Send(ReadOnlySpan{byte})"/> followed by <see cref="Receive(Span{byte})"/>, except
    /// how the receive waits: it expects the answer within a round trip, and its clock-free first spin looks for it with a
    /// load fence between looks instead of a pause (x86), so the answer is seen within a few ns of landing rather than up
    /// to a pause (24 ns here) later. A server, whose next request comes after the client's own work, waits better with
    /// <see cref="Receive(Span{byte})"/> and answers with <see cref="Send(ReadOnlySpan{byte})"/>: its longer wait with fenced
    /// looks takes the line the client writes more often (docs/architecture.md, "A request's reply is looked for fenced").
    /// <paramref name="destination"/> may be <paramref name="message"/>'s memory: the message is copied into the ring
    /// before anything is received.
    /// </summary>
    /// <param name="message">The message to send.</param>
    /// <param name="destination">Where the answer is copied.</param>
    /// <returns>The answer's length.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/> (nothing was sent).</exception>
    /// <exception cref="InvalidOperationException">The channel is in an <see cref="IicChannelGroup"/> (nothing was sent; wait with the group, or remove it first); another thread is sending on a <see cref="ChannelOptions.SingleWriter"/> channel or this thread holds an open claim (nothing was sent); another thread is receiving on a <see cref="ChannelOptions.SingleReader"/> channel (the message was sent).</exception>
    /// <exception cref="IicChannelClosedException">The peer closed: before the send (nothing was sent), or after it and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died: before the send (nothing was sent), or after it and every message it published was received.</exception>
    /// <exception cref="ObjectDisposedException">This side was disposed (before the send: nothing was sent).</exception>
    /// <exception cref="MessageTooLargeException">The answer does not fit <paramref name="destination"/>: the message was sent, the answer stays unread (the exception says the size needed).</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer answered with a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped.</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit] // as Send and TryReceive: C# assigns every local before use, and the prolog zeroed up to 200 bytes a call
    public int SendAndReceive(ReadOnlySpan<byte> message, Span<byte> destination)
    {
        _endpoint.ThrowIfInGroup(); // the receive would refuse: before anything is sent
        Send(message);
        return ReceiveReply(destination);
    }

    /// <summary>
    /// <see cref="SendAndReceive(ReadOnlySpan{byte}, Span{byte})"/>, waiting for room and for the answer until
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <param name="message">The message to send.</param>
    /// <param name="destination">Where the answer is copied.</param>
    /// <param name="cancellationToken">Cancels the wait for room (nothing was sent, a fragmented message is abandoned) or for the answer (the message was sent, and its answer, when it comes, is the next message received).</param>
    /// <returns>The answer's length.</returns>
    /// <exception cref="OperationCanceledException">Cancelled while waiting for room or for the answer (<paramref name="cancellationToken"/> says which).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/> (nothing was sent).</exception>
    /// <exception cref="InvalidOperationException">As <see cref="SendAndReceive(ReadOnlySpan{byte}, Span{byte})"/>.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed: before the send (nothing was sent), or after it and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died: before the send (nothing was sent), or after it and every message it published was received.</exception>
    /// <exception cref="ObjectDisposedException">This side was disposed (before the send: nothing was sent).</exception>
    /// <exception cref="MessageTooLargeException">The answer does not fit <paramref name="destination"/>: the message was sent, the answer stays unread.</exception>
    /// <exception cref="ReceiveLimitExceededException">The peer answered with a fragmented message over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: it was refused and is dropped.</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    public int SendAndReceive(ReadOnlySpan<byte> message, Span<byte> destination, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return SendAndReceiveWithoutToken(message, destination);
        }
        _endpoint.ThrowIfInGroup();
        Send(message, cancellationToken); // its lean fast path, inlined
        // The answer there or arriving within the fenced spin (about 1 µs, as Receive's own first spin, without looking at
        // the token); else the token's wait.
        if (!Options.Grouped && _receiveGate.TryEnterOwnerFast()) // as ReceiveReply: a grouped channel's receive checks the group first
        {
            if (_endpoint.TryReceiveReplyFast(destination, out var length, out var looks))
            {
                NoteReceive(looks);
                _receiveGate.Exit();
                return length;
            }
            _receiveGate.Exit();
        }
        return ReceiveAnswerWaiting(destination, cancellationToken);
    }

    // Out of line, so that the token overload's fast path, which the caller's loop runs, holds neither the whole
    // untokened call nor the token's wait (inlined, the method's code was 7.6 KB).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private int SendAndReceiveWithoutToken(ReadOnlySpan<byte> message, Span<byte> destination) => SendAndReceive(message, destination);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private int ReceiveAnswerWaiting(Span<byte> destination, CancellationToken cancellationToken) => Receive(destination, cancellationToken);

    /// <summary>
    /// The receive of <see cref="SendAndReceive(ReadOnlySpan{byte}, Span{byte})"/>: as <see cref="TryReceive(Span{byte}, out int, TimeSpan)"/>
    /// with no limit, but through the fenced spin (WindowEndpoint.TryReceiveReplyFast), the biased owner's lean entry first.
    /// </summary>
    private int ReceiveReply(Span<byte> destination)
    {
        if (!Options.Grouped && (_receiveGate.TryEnterOwnerFast() || _receiveGate.TryEnter(Options.SingleReader, GateRole.Receive)))
        {
            if (_endpoint.TryReceiveReplyFast(destination, out var length, out var looks))
            {
                NoteReceive(looks);
                _receiveGate.Exit();
                return length;
            }
            // The fast path made the first spin if this endpoint's waits start with one: not again.
            TryReceiveEntered(destination, out length, Timeout.InfiniteTimeSpan);
            return length;
        }
        return ReceiveAnswerWaiting(destination);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private int ReceiveAnswerWaiting(Span<byte> destination) => Receive(destination);
}
