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
// caller's thread) whose connection ended before its start claimed the send (ClaimSend: round 20 for a call that waited,
// round 21 for every call); and (round 22) one whose claimed CallStart waited in the connection's queue for its sender,
// none of it in the ring (the sender claims the send only holding room: Queued to MayBeSent); and (round 23) one whose
// CallStart was deferred on the connection's reader thread, which claims it the same way; and (round 23) one whose start's
// one-record try threw as the peer had closed or died, before the reader thread saw it (the transport throws that before
// it writes: LeaveFailedTryToConnectionEnd). A call whose CallStart may be
// in a ring is never retried: it ends Unavailable with the connection (OnConnectionLost).
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
        // Against ClaimSend's and the sender's swaps: exactly one finds the call Unsent or Queued (see ClaimSend). The status
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
                // No connection holds the call now (as in ClaimSend): its next registration begins Unsent.
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
    /// The start's one try to send the CallStart at once (<see cref="CallConnection.TrySendFrameNow"/>, or the try of
    /// <see cref="CallConnection.SendFrameOrQueue"/>) threw <paramref name="failure"/> after the start claimed the send
    /// (MayBeSent): true when that proves none of it is in the ring, and the call is left to the connection's end to start
    /// again, as a queued CallStart that failed unclaimed (QueueFailed, round 22); false, and the call ends as before. Round 23:
    /// the peer closed (or died) before the connection's reader thread reached its end, so the invoker still gave this call
    /// the connection (IicCallInvoker.GetConnection looks at IsClosed, which that end sets), and it ended Unavailable sent.
    /// <para>Why nothing went: both tries send one record (a frame longer than one is never tried: MustSplit sends it queued,
    /// in pieces) with <see cref="IIC.Transport.IicChannel.TrySend(ReadOnlySpan{byte})"/>, and the transport throws
    /// <see cref="IIC.Transport.IicChannelClosedException"/> or <see cref="IIC.Transport.PeerDeadException"/> there only
    /// from WindowEndpoint.ThrowPeerGone, which SendCore calls before its TryWrite and WaitForRoom before its return (the
    /// record written only after: WindowEndpoint.Sender.cs); a doorbell after the publish throws neither. Not on the
    /// connection's reader thread, whose sends defer (a frame longer than one record may go there in part before a throw),
    /// nor for a disposed connection (<see cref="ObjectDisposedException"/>: its end came, or the invoker's Dispose).</para>
    /// </summary>
    private bool LeaveFailedTryToConnectionEnd(Exception failure, in StartRequest start)
    {
        if (failure is not (IIC.Transport.IicChannelClosedException or IIC.Transport.PeerDeadException) || _connection!.IsCurrentReader)
        {
            return false;
        }
        lock (Gate)
        {
            // What its start again needs (RetryOrFail), set under the gate as StartAgainUnsent sets it: a Finish after this
            // completes its start (and looks for the mark below), one before is seen ended below.
            _queued ??= new QueuedStart(in start);
        }
        // From MayBeSent, which only this start's thread leaves (OnConnectionLost ends a MayBeSent call, it does not move it).
        if (Interlocked.CompareExchange(ref StartProgress, CallStartProgress.QueueFailed, CallStartProgress.MayBeSent) != CallStartProgress.MayBeSent)
        {
            Debug.Fail("a start's failed try leaves its claim as it was");
            return false;
        }
        // Ended before (its token, deadline, Dispose, or the connection's end that found it MayBeSent): Finish took it off the
        // connection, so that end never reaches it; the mark is taken back here and the call ends as before (the caller
        // gives the slot back). Else whoever takes the mark (Finish's look after its Remove, or the connection's end, which
        // starts the call again) owns what follows, and the caller does nothing more. The swap above is a full fence, as in
        // SettleUnsentQueuedStart: exactly one of the looks, or the connection's end, takes the mark.
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
    /// Claims the send of the CallStart, just before the first byte of it may go into the ring: null (send it; the call is
    /// never started again from here), or the status of the connection that ended before (nothing sent: start the call
    /// again). One uncontended compare-and-swap on the call's own progress (no lock: the fast path of every call pays it).
    /// The order: the claim and <see cref="OnConnectionLost"/> each swap the progress from Unsent, so one of them comes
    /// first. The claim first: the progress is MayBeSent, and the connection's end fails the call Unavailable as any sent
    /// call (its CallStart may be in the ring, or the send fails on the closed channel: never retried). The end first: the
    /// claim finds LostBeforeSent and nothing is written, so the connection cannot have read any of it. Neither can think
    /// the other did not happen when it did (each swap is a full fence).
    /// </summary>
    private Status? ClaimSend()
    {
        var was = Interlocked.CompareExchange(ref StartProgress, CallStartProgress.MayBeSent, CallStartProgress.Unsent);
        if (was != CallStartProgress.LostBeforeSent)
        {
            Debug.Assert(was == CallStartProgress.Unsent, "a registration's start claims its send once");
            return null; // claimed (a second claim, were there one, sends as before: never a start again)
        }
        // No connection holds the call now (its registry was closed and taken): its next registration begins Unsent (the
        // registry's lock, taken to register it, publishes this write). The connection's status was written before its end
        // was swapped in, so the swap read above orders it before this read.
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
