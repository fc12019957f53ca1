using System.Buffers;
using System.Diagnostics;

namespace IIC.Grpc.Protocol;

// CallConnection, a queued frame its owner may take back until the sender holds room for it (round 22), or deferred on the
// reader thread until that thread holds room for it (round 23): a client call's CallStart, which the connection's end takes
// back while none of it is in the ring, so the call can start again on another connection (docs/grpc-call-protocol.md 1).
internal abstract partial class CallConnection
{
    /// <summary>
    /// The sender's try for the first record of a frame its owner may take back (<see cref="IQueuedSendClaim"/>): room is
    /// claimed first (nothing the peer can read), then the owner's word; only then is the record written and published.
    /// So a frame the owner took back never has a byte in the ring, and one it let go is in the ring or failed with the
    /// channel. False: no room now (the owner is not asked).
    /// </summary>
    /// <exception cref="IOException">The owner took it back (its connection ended first): nothing of it was sent.</exception>
    private bool TrySendClaimed(ReadOnlySpan<byte> frame, IQueuedSendClaim claim, QueuedSend item)
    {
        if (!_sendLock.TryEnter())
        {
            var spinner = default(SpinWait);
            do
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            while (!_sendLock.TryEnter());
        }
        try
        {
            if (!_channel.TryClaim(frame.Length, out var room))
            {
                return false;
            }
            if (!claim.TryClaimQueuedSend())
            {
                room.Abort(); // the peer skips it: no frame
                throw new IOException("The call's start was not sent: its connection ended first (it starts again on another).");
            }
            frame.CopyTo(room.Span);
            room.Commit();
            item.Claim = null; // claimed: the rest of the frame (if in pieces) goes as any frame's
            return true;
        }
        finally
        {
            _sendLock.Exit();
        }
    }

    /// <summary>
    /// One try to send at once a frame its owner may take back (a client call's CallStart), any thread but the reader's,
    /// without waiting: the send lock free, nothing queued, one record, room now (false: nothing was sent, and the caller
    /// queues it with <see cref="SendFrameOrQueue"/> and a token it makes only then: most starts never wait, so most make
    /// none), claiming room first and only then asking the owner (<see cref="IQueuedSendClaim.TryClaimSend"/>), as the
    /// sender does (<see cref="TrySendClaimed"/>). Round 24: before, the owner claimed its send before this try (then
    /// TrySendFrameNow, which sent with IicChannel.TrySend), so a connection end that came between that claim and its
    /// queueing after a failed try found it claimed, though nothing of it was sent.
    /// </summary>
    /// <exception cref="IOException">The peer closed or died: nothing of it was written, and the owner was not asked.</exception>
    /// <exception cref="ObjectDisposedException">The connection was disposed (after the owner's word: nothing was published).</exception>
    /// <exception cref="global::Grpc.Core.RpcException"><c>ResourceExhausted</c>: the frame's header block is over <see cref="MaxMetadataSize"/> (nothing was sent).</exception>
    public ClaimedTry TrySendFrameNowClaimed(ReadOnlySpan<byte> frame, IQueuedSendClaim claim)
    {
        if ((s_readerDefers && IsCurrentReader) || (frame.Length > _sendCheckAbove && MustSplit(frame)) || !_sendLock.TryEnter())
        {
            return ClaimedTry.NotNow;
        }
        return TryClaimedHoldingLock(frame, claim);
    }

    /// <summary>
    /// With the send lock taken by the caller: if nothing is queued for the sender and the ring has room for
    /// <paramref name="frame"/> (one record) now, claims the room (nothing the peer can read), asks
    /// <paramref name="claim"/>, and writes and publishes the record only on its yes (on its no the room is given back
    /// unwritten: the peer skips it). Notes a peer gone (CallConnection.PeerEnd.cs); releases the lock either way. So an
    /// owner not asked has nothing of its frame in the ring, whatever this throws: <c>IicChannel.TryClaim</c> throws a
    /// peer gone before it claims, and a commit after a disposal publishes nothing.
    /// </summary>
    private ClaimedTry TryClaimedHoldingLock(ReadOnlySpan<byte> frame, IQueuedSendClaim claim)
    {
        try
        {
            if (Volatile.Read(ref _queued) != 0 || !_channel.TryClaim(frame.Length, out var room))
            {
                return ClaimedTry.NotNow;
            }
            if (!claim.TryClaimSend())
            {
                room.Abort(); // the peer skips it: no frame
                return ClaimedTry.TakenBack;
            }
            frame.CopyTo(room.Span);
            room.Commit();
            return ClaimedTry.Sent;
        }
        catch (IOException e) when (NoteSendFailure(e))
        {
            throw; // never: the filter only notes a peer gone (CallConnection.PeerEnd.cs)
        }
        finally
        {
            _sendLock.Exit();
        }
    }

    /// <summary>What a frame whose owner was taken back before it was queued fails with (a loss: the owner starts again).</summary>
    private static IOException TakenBack()
        => new("The call's start was not sent: its connection ended first (it starts again on another).");

    /// <summary>
    /// Reader thread: sends <paramref name="frame"/> if it can go now, exactly as <see cref="SendOrDeferClaimed"/>'s first
    /// try (nothing deferred before it, one record, room now, the owner's word holding room), so its owner makes the state
    /// a deferral needs only when it cannot. <see cref="ClaimedTry.NotNow"/> also when this thread waits for room instead of
    /// deferring (the A/B switch) or the connection is closed: <see cref="SendOrDeferClaimed"/> then takes it as before.
    /// </summary>
    /// <exception cref="IOException">The peer closed or died (nothing of it written, the owner not asked).</exception>
    /// <exception cref="global::Grpc.Core.RpcException"><c>ResourceExhausted</c>: the frame's header block is over <see cref="MaxMetadataSize"/> (nothing was sent).</exception>
    public ClaimedTry TrySendOnReaderNow(ReadOnlySpan<byte> frame, IQueuedSendClaim claim)
    {
        Debug.Assert(IsCurrentReader, "the reader thread's own sends");
        return s_readerDefers && !IsClosed && _deferred.Count == 0 && !(frame.Length > _sendCheckAbove && MustSplit(frame)) && TryEnterSendLockBriefly()
            ? TryClaimedHoldingLock(frame, claim)
            : ClaimedTry.NotNow;
    }

    /// <summary>
    /// Reader thread (an inline continuation starting a call): sends a frame its owner may take back, as
    /// <see cref="SendOrDefer"/> sends any frame, never waiting for room. Null: it went now. Else it waits in this thread's
    /// deferred frames, <paramref name="claim"/> told (<see cref="IQueuedSendClaim.OnQueued"/>), and goes only with the
    /// owner's word once this thread holds room for it (<see cref="TrySendNowClaimed"/>); the task completes (on this
    /// thread, its continuations inline) once it is in the ring, or fails with <paramref name="failure"/>(why) when the
    /// connection ended first, nothing of it sent (also, since round 24, at once when the owner was taken back before it
    /// was deferred). Before round 23 it was deferred as any frame, which nobody could take back. A frame longer than one
    /// record (handed to the sender in pieces) and the A/B switch that makes this thread wait go as any frame's, the
    /// owner's word asked first (the task then fails only because the connection ended).
    /// </summary>
    /// <exception cref="IOException">The peer closed or died.</exception>
    /// <exception cref="ObjectDisposedException">The connection was closed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended a wait for room (the A/B switch only).</exception>
    /// <exception cref="global::Grpc.Core.RpcException"><c>ResourceExhausted</c>: the frame's header block is over <see cref="MaxMetadataSize"/> (nothing was sent).</exception>
    public Task? SendOrDeferClaimed(ReadOnlySpan<byte> frame, IQueuedSendClaim claim, Func<Exception, Exception> failure, CancellationToken cancellationToken)
    {
        Debug.Assert(IsCurrentReader, "the reader thread's own sends");
        if (!s_readerDefers || (frame.Length > _sendCheckAbove && MustSplit(frame)))
        {
            if (!claim.TryClaimSend())
            {
                return Task.FromException(failure(TakenBack()));
            }
            return SendFrame(frame, cancellationToken) ? WhenDeferredSent(failure) : null;
        }
        if (IsClosed)
        {
            throw new ObjectDisposedException(GetType().Name, "The connection is closed.");
        }
        if (_deferred.Count == 0)
        {
            switch (TryEnterSendLockBriefly() ? TryClaimedHoldingLock(frame, claim) : ClaimedTry.NotNow)
            {
                case ClaimedTry.Sent:
                    return null;
                case ClaimedTry.TakenBack:
                    return Task.FromException(failure(TakenBack()));
            }
        }
        if (!claim.OnQueued()) // before it is deferred: from here only TrySendNowClaimed lets it into the ring
        {
            return Task.FromException(failure(TakenBack()));
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, frame.Length));
        frame.CopyTo(buffer);
        var sent = new TaskCompletionSource(); // completed by this thread (FlushDeferred, FailDeferred), continuations inline
        _deferred.Enqueue(new DeferredFrame(buffer, frame.Length, sent, failure, claim));
        return sent.Task;
    }

    /// <summary>
    /// Reader thread: one try to send a deferred frame its owner may take back, as <see cref="TryNow"/> (nothing queued for
    /// the sender, room now) but claiming the room first and then asking the owner, as the sender does
    /// (<see cref="TrySendClaimed"/>). False: no room now (the owner is not asked).
    /// </summary>
    /// <exception cref="IOException">The owner took it back (its connection ended first): nothing of it was sent, and the reader ends.</exception>
    private bool TrySendNowClaimed(ReadOnlySpan<byte> frame, IQueuedSendClaim claim)
    {
        if (!TryEnterSendLockBriefly())
        {
            return false;
        }
        try
        {
            if (Volatile.Read(ref _queued) != 0 || !_channel.TryClaim(frame.Length, out var room))
            {
                return false;
            }
            if (!claim.TryClaimQueuedSend())
            {
                room.Abort(); // the peer skips it: no frame
                throw new IOException("The connection ended before a deferred call start went (it starts again on another).");
            }
            frame.CopyTo(room.Span);
            room.Commit();
            return true;
        }
        finally
        {
            _sendLock.Exit();
        }
    }
}
