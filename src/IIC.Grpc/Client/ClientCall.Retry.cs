using System.Diagnostics;
using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

// ClientCall, started again when it provably sent nothing (gRFC A6's transparent retry, docs/grpc-call-protocol.md 1):
// it waited for a slot when its connection ended, or it found its connection ended or drained (GoAway) when it registered
// there. No CallStart of it was ever in that connection's ring, so no server heard of it and starting it on another
// connection cannot run it twice; as SocketsHttpHandler retries a request that never went out on a new connection
// (RequestRetryType.RetryOnConnectionFailure) and grpc-dotnet's channel a pick that failed before the request was sent.
// Also a call registered on a connection (granted a slot after waiting, or, since round 21, at its first try on its
// caller's thread) whose connection ended before its start claimed the send (round 20 for a call that waited,
// round 21 for every call); and (round 22) one whose claimed CallStart waited in the connection's queue for its sender,
// none of it in the ring (the sender claims the send only holding room: Queued to MayBeSent); and (round 23) one whose
// CallStart was deferred on the connection's reader thread, which claims it the same way; and (round 23) one whose start's
// one-record try threw as the peer had closed or died, before the reader thread saw it (the transport throws that before
// it writes: LeaveFailedTryToConnectionEnd); and (round 24) one whose connection ended between its start's failed try and
// the queueing of its CallStart (every try claims the send only holding room, so a failed one leaves the call Unsent).
// A call whose CallStart may be in a ring is never retried: it ends Unavailable with the connection (OnConnectionLost).
internal sealed partial class ClientCall<TRequest, TResponse>
{
    /// <summary>
    /// The connection ended with the call registered on it (<see cref="CallRegistry.Close(Status, out List{ClientCallBase}?)"/>'s
    /// calls in flight). A call whose start did not claim the send yet (its start is on its way to the pool, or serializing
    /// its request, on whichever thread registered it) sent nothing: it is marked, and its start, which runs once per
    /// registration whatever happens (<see cref="Start"/>'s fast path, <see cref="RunQueuedStart"/>), starts it again instead
    /// of sending. So is a call whose CallStart waits in the connection's queue with none of it in the ring (round 22): the
    /// sender, which claims its send only once it holds room, then drops it, and the start's continuation
    /// (<see cref="ContinueQueuedStartAsync"/>) starts it again; or, when that send already failed unclaimed (the channel
    /// ended before this end reached the call), this starts it again. Every other call ends Unavailable: its CallStart may
    /// be in the ring. Before (round 20), only a call that had waited was marked (under the call's lock); before round 22, a
    /// call whose claimed CallStart was queued for the sender ended Unavailable unsent.
    /// </summary>
    public override void OnConnectionLost(Status status)
    {
        // Against the claims' swaps (a try's, holding room, since round 24; the sender's; the reader thread's) and the queueing's:
        // exactly one finds the call Unsent or Queued (see LostBeforeSent). The status
        // the start needs is the connection's (ClientConnection.ClosedStatus, written before any call was told).
        while (true)
        {
            var was = ReadStartProgress();
            switch (was)
            {
                case CallStartProgress.Unsent or CallStartProgress.Queued:
                    if (Interlocked.CompareExchange(ref StartProgress, CallStartProgress.LostBeforeSent, was) == was)
                    {
                        return; // its start, or its queued start's continuation, starts it again
                    }
                    continue; // claimed, or its queued send failed, meanwhile: look again
                case CallStartProgress.QueueFailed:
                    if (Interlocked.CompareExchange(ref StartProgress, CallStartProgress.Unsent, was) == was)
                    {
                        // Its queued CallStart failed unclaimed before this end came: nothing of it went, the continuation left
                        // it to this end (which took the call off the connection), and it starts again from here.
                        _connection!.Release(this); // a slot of an ended connection: nothing to grant
                        RetryOrFail(status);
                        return;
                    }
                    continue;
                default:
                    Finish(status, new Metadata(), local: true, connectionLost: true);
                    return;
            }
        }
    }

    /// <summary>How a queued CallStart that did not go leaves the call (<see cref="SettleUnsentQueuedStart"/>).</summary>
    private enum UnsentQueuedStart
    {
        /// <summary>As before round 22: the call ended, or ends now with the failure (the ring may hold the CallStart).</summary>
        Ended,

        /// <summary>The connection's end took it back before the sender claimed it: the continuation starts it again.</summary>
        StartAgain,

        /// <summary>Its send failed unclaimed as the channel ended, before the connection's end reached the call: that end starts it again.</summary>
        LeftToConnectionEnd,
    }

    /// <summary>
    /// The continuation of a CallStart queued for the connection's sender, which did not complete (<paramref name="failure"/>):
    /// whether the call starts again (round 22). The sender claims the send (Queued to MayBeSent) only holding room, so
    /// progress still Queued or LostBeforeSent means none of it is in the ring. LostBeforeSent: the connection's end took
    /// the call off the connection and left its start to this (StartAgain). Queued with a channel failure: the connection
    /// is ending and its end has not reached the call yet; only that end may start the call again (before, the call is
    /// still in the connection's registry, which would tell its next registration of this end), so this leaves it a mark
    /// (QueueFailed). Queued when the call ended (its token cancelled the send), MayBeSent (the sender claimed it), or a
    /// fault that is no channel's end: as before.
    /// </summary>
    private UnsentQueuedStart SettleUnsentQueuedStart(Exception failure)
    {
        while (true)
        {
            var was = ReadStartProgress();
            if (was == CallStartProgress.LostBeforeSent)
            {
                // No connection holds the call now (as in LostBeforeSent): its next registration begins Unsent.
                StartProgress = CallStartProgress.Unsent;
                return UnsentQueuedStart.StartAgain;
            }
            if (was != CallStartProgress.Queued || failure is OperationCanceledException || !ConnectionErrors.IsLoss(failure))
            {
                return UnsentQueuedStart.Ended;
            }
            if (Interlocked.CompareExchange(ref StartProgress, CallStartProgress.QueueFailed, was) == was)
            {
                // Ended before (its token, its deadline, Dispose; round 23): Finish took it off the connection, so the
                // connection's end never reaches it, and Finish, which looked before this mark, left the slot. Taken back
                // here, the caller gives the slot back. (After the swap above: either Finish's look comes after it and takes
                // the mark, or this read sees the call ended; both swaps are full fences. Exactly one takes it.)
                return Volatile.Read(ref _done) && TakeQueueFailedMark() ? UnsentQueuedStart.Ended : UnsentQueuedStart.LeftToConnectionEnd;
            }
        }
    }

    /// <summary>
    /// The start's one try to send the CallStart at once (<see cref="CallConnection.TrySendFrameNowClaimed"/>, or the try of
    /// <see cref="CallConnection.SendFrameOrQueue"/>) threw <paramref name="failure"/>: true when that proves none of it is in
    /// the ring, and the call is left to the connection's end to start again, as a queued CallStart that failed unclaimed
    /// (QueueFailed, round 22); false, and the call ends as before, or (<paramref name="lost"/> not null, round 24) the
    /// connection's end had taken the call back already, and the caller starts it again with that status. Round 23: the
    /// peer closed (or died) before the connection's reader thread reached its end, so the invoker still gave this call
    /// the connection (IicCallInvoker.GetConnection looks at IsClosed, which that end sets), and it ended Unavailable sent.
    /// <para>Why nothing went: since round 24 every try claims the send (Unsent to MayBeSent) only holding room for the
    /// record, after <c>IicChannel.TryClaim</c> succeeded and before the copy (CallConnection.TryClaimedHoldingLock), so a
    /// call still Unsent (or LostBeforeSent) has nothing in the ring, whatever was thrown. Before round 24 the claim came
    /// first, and the proof was the transport's: both tries send one record with <see cref="IIC.Transport.IicChannel.TrySend(ReadOnlySpan{byte})"/>,
    /// which throws <see cref="IIC.Transport.IicChannelClosedException"/> or <see cref="IIC.Transport.PeerDeadException"/>
    /// only from WindowEndpoint.ThrowPeerGone, before its write (WindowEndpoint.Sender.cs); TryClaim throws it there too,
    /// before it claims. Left to the connection's end only for these two exceptions and not on the connection's reader
    /// thread, as before (a disposed connection's end came, or the invoker's Dispose).</para>
    /// </summary>
    private bool LeaveFailedTryToConnectionEnd(Exception failure, in StartRequest start, out Status? lost)
    {
        lost = LostBeforeSent();
        if (lost is not null || failure is not (IIC.Transport.IicChannelClosedException or IIC.Transport.PeerDeadException) || _connection!.IsCurrentReader)
        {
            return false;
        }
        lock (Gate)
        {
            // What its start again needs (RetryOrFail), set under the gate as StartAgainUnsent sets it: a Finish after this
            // completes its start (and looks for the mark below), one before is seen ended below.
            _queued ??= new QueuedStart(in start);
        }
        // From Unsent (the try threw before its claim), which only this start's thread leaves but for the connection's end
        // (to LostBeforeSent: then it starts again here). MayBeSent: the claim was given and the commit threw (a disposal):
        // as any sent call, it ends.
        var was = Interlocked.CompareExchange(ref StartProgress, CallStartProgress.QueueFailed, CallStartProgress.Unsent);
        if (was != CallStartProgress.Unsent)
        {
            lost = LostBeforeSent();
            return false;
        }
        // Ended before (its token, deadline, Dispose): Finish took it off the connection, so the connection's end never
        // reaches it; the mark is taken back here and the call ends as before (the caller gives the slot back). Else whoever
        // takes the mark (Finish's look after its Remove, or the connection's end, which starts the call again) owns what
        // follows, and the caller does nothing more. The swap above is a full fence, as in SettleUnsentQueuedStart: exactly
        // one of the looks, or the connection's end, takes the mark.
        return !(Volatile.Read(ref _done) && TakeQueueFailedMark());
    }

    /// <summary>
    /// Takes the mark of a queued CallStart that failed unclaimed (QueueFailed), for a call that ended before the connection's
    /// end reached it (<see cref="Finish"/>, <see cref="SettleUnsentQueuedStart"/>): true once, and then the taker gives the
    /// slot back; false when there is no mark, or the connection's end (<see cref="OnConnectionLost"/>) or the other took it.
    /// </summary>
    private bool TakeQueueFailedMark()
        => Interlocked.CompareExchange(ref StartProgress, CallStartProgress.MayBeSent, CallStartProgress.QueueFailed) == CallStartProgress.QueueFailed;

    /// <summary>
    /// Whether the connection's end took the call back before its start claimed the send: its status (nothing sent: start
    /// the call again), else null. A read, not a claim: since round 24 the start claims the send only holding room for its
    /// CallStart's record (<see cref="IQueuedSendClaim.TryClaimSend"/>, from the connection's tries), so a failed try leaves
    /// the call Unsent and its queueing (<see cref="IQueuedSendClaim.OnQueued"/>) is from Unsent too; the connection's end
    /// swaps Unsent (or Queued) to LostBeforeSent, and whichever swap comes first decides, as before. Before, this was the
    /// claim (Unsent to MayBeSent, rounds 21 to 23), made before the frame was built and tried, and the end that came
    /// between it and the swap to Queued after a failed try ended the call Unavailable, nothing of it sent.
    /// </summary>
    private Status? LostBeforeSent()
    {
        if (ReadStartProgress() != CallStartProgress.LostBeforeSent)
        {
            return null;
        }
        // No connection holds the call now (its registry was closed and taken): its next registration begins Unsent (the
        // registry's lock, taken to register it, publishes this write). The connection's status was written before its end
        // was swapped in, so the read above orders it before this read.
        StartProgress = CallStartProgress.Unsent;
        return _connection!.ClosedStatus;
    }

    /// <summary>
    /// How many times one call starts again after its connection ended with nothing of it sent, as SocketsHttpHandler's
    /// MaxConnectionFailureRetries (3): each takes a connection that was open or connected (a failed connect ends the call
    /// unless it has WaitForReady), so a server that accepts and closes every connection cannot make a call loop forever
    /// even without a deadline. Its deadline and token end it meanwhile, as they end a call that waits for a slot.
    /// </summary>
    internal const int MaxTransparentRetries = 3;

    /// <summary>The base of WaitForReady's wait between failed connects (gRPC's connection backoff: 1 s, then ×1.6, ±20 %).</summary>
    private static readonly TimeSpan s_initialConnectBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The most WaitForReady waits between two connects (gRPC's connection backoff: 120 s).</summary>
    private static readonly TimeSpan s_maxConnectBackoff = TimeSpan.FromSeconds(120);

    public override void OnConnectionEndedUnsent(Status status) => RetryOrFail(status);

    /// <summary>
    /// The call sent nothing and its connection ended or drained (<paramref name="status"/> says how): it starts again on an
    /// open connection of its invoker, or waits for a new one (a connect, shared as a new call's is), keeping its deadline,
    /// token, start state and any write or complete waiting for its start; past <see cref="MaxTransparentRetries"/>, or
    /// without an invoker, it ends with <paramref name="status"/>. It is in no queue or registry when this runs (one thread).
    /// </summary>
    private void RetryOrFail(Status status)
    {
        var queued = _queued!; // every call that can get here waited (for a slot or a connect) or was given its start state
        if (Volatile.Read(ref _done))
        {
            queued.Started.TrySetResult(); // ended meanwhile: it has its status (Finish may have run before the start state was set)
            return;
        }
        var invoker = Volatile.Read(ref _connection)?.Invoker;
        if (invoker is null || queued.TransparentRetries >= MaxTransparentRetries)
        {
            Finish(status, new Metadata(), local: true);
            return;
        }
        queued.TransparentRetries++;
        Reconnect(invoker);
    }

    /// <summary>Registers the call on an open connection of <paramref name="invoker"/>, or waits for its connect; ends it once the invoker was disposed.</summary>
    private void Reconnect(IicCallInvoker invoker)
    {
        var connection = invoker.GetConnectionForRetry(out var failure, out var connecting);
        if (connection is not null)
        {
            Register(connection);
        }
        else if (connecting is not null)
        {
            WaitForConnection(connecting);
        }
        else
        {
            Finish(failure, new Metadata(), local: true);
        }
    }

    /// <summary>
    /// WaitForReady (<see cref="CallOptions.IsWaitForReady"/>): the connect the call waited for failed (the server is not up
    /// yet, or is restarting), so rather than end <c>Unavailable</c> it connects again after gRPC's
    /// connection backoff, until its deadline, its token, its Dispose or the invoker's end it, as grpc-dotnet's channel
    /// keeps a WaitForReady call's pick waiting through a failed connect (ConnectionManager.PickAsync).
    /// </summary>
    private void ConnectAgainLater(IicCallInvoker invoker)
    {
        var queued = _queued!;
        if (Volatile.Read(ref _done))
        {
            return; // ended meanwhile (Finish opened the start gate)
        }
        var delay = ConnectBackoff(queued.FailedConnects++);
        // The invoker's Dispose ends the wait at once; the continuation then finds it disposed and ends the call Unavailable.
        Task.Delay(delay, invoker.DisposingToken).ContinueWith(static (_, state) =>
        {
            var (call, invoker) = ((ClientCall<TRequest, TResponse>, IicCallInvoker))state!;
            call.ConnectAgain(invoker);
        }, (this, invoker), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>A continuation nobody observes: whatever goes wrong ends this call (Internal), not silently, not the process.</summary>
    private void ConnectAgain(IicCallInvoker invoker)
    {
        try
        {
            if (!Volatile.Read(ref _done))
            {
                Reconnect(invoker);
            }
        }
#pragma warning disable CA1031 // see the summary
        catch (Exception e)
        {
            CompleteLocally(new Status(StatusCode.Internal, "Starting the call failed: " + e.Message, e));
        }
#pragma warning restore CA1031
    }

    /// <summary>gRPC's connection backoff (grpc/doc/connection-backoff.md): 1 s × 1.6^<paramref name="failures"/>, at most 120 s, ±20 % jitter.</summary>
    private static TimeSpan ConnectBackoff(int failures)
    {
        var backoff = s_initialConnectBackoff.TotalMilliseconds * Math.Pow(1.6, Math.Min(failures, 32));
        backoff = Math.Min(backoff, s_maxConnectBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(backoff * (0.8 + (0.4 * Random.Shared.NextDouble())));
    }
}
