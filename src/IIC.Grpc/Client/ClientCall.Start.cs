using System.Diagnostics;
using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

// ClientCall, its start: the slot, the CallStart (never waiting on the caller's thread: queued for the connection's sender
// when it cannot go at once, docs/grpc-call-protocol.md 2.1 and 2.8), the request that follows it, and the Cancel's order.
internal sealed partial class ClientCall<TRequest, TResponse>
{
    /// <summary>
    /// Opens the call on the server with <paramref name="options"/>' deadline, token and headers; with
    /// <paramref name="request"/> (unary, server streaming) sends it and half-closes. While its connection is being made
    /// (<paramref name="connecting"/>) the call waits for it (ClientCall.Connect.cs) and this returns at once; without a
    /// connection and a connect (the invoker disposed) the call ends at once with <paramref name="connectFailure"/>. When the connection has as many calls open as the server allows
    /// (its Settings frame), the call waits in the connection's queue instead, and this returns at once: it is sent when a
    /// slot frees (<see cref="StartQueued"/>), and its token, deadline and Dispose end it meanwhile, with nothing sent.
    /// A call that holds a slot never waits here either: what cannot go at once is queued (<see cref="SendStart"/>).
    /// </summary>
    public void Start(TRequest? request, bool sendRequest, in CallOptions options, Status connectFailure, Task<IicCallInvoker.ConnectResult>? connecting)
    {
        if (_connection is null && connecting is null)
        {
            Finish(connectFailure, new Metadata(), local: true);
            return;
        }
        if (options.CancellationToken.IsCancellationRequested)
        {
            // As grpc-dotnet (its HttpClient sends nothing for a cancelled token), and as a deadline already passed: the
            // server never hears of the call (it would open it, even run its handler, to be cancelled a frame later).
            Finish(Cancelled, new Metadata(), local: true);
            return;
        }
        var remaining = Timeout.InfiniteTimeSpan;
        DateTime? until = null; // the deadline (UTC) for a start that waits: what is left of it when the CallStart goes
        if (options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            until = deadline.ToUniversalTime();
            remaining = until.Value - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                Finish(new Status(StatusCode.DeadlineExceeded, ""), new Metadata(), local: true);
                return;
            }
        }
        if (_connection is null)
        {
            // Its connection is being made (ClientCall.Connect.cs): the call waits for it as a queued call waits for a slot,
            // this returns at once, and its token, deadline and Dispose end it meanwhile, with nothing sent.
            StartTimers(remaining, options.CancellationToken);
            _queued = new QueuedStart(request, sendRequest, options.Headers, until, options.IsWaitForReady);
            WaitForConnection(connecting!);
            return;
        }
        var added = _connection.TryAdd(this, queue: false, out var closed);
        if (added == CallRegistry.AddResult.Closed)
        {
            // Its connection ended, or drained after the server's GoAway, since the invoker picked it: nothing was sent, so
            // the call starts again on another (ClientCall.Retry.cs), waiting as a queued call waits. The start state first:
            // a deadline or token that ends the call at once finds it.
            _queued = new QueuedStart(request, sendRequest, options.Headers, until, options.IsWaitForReady);
            StartTimers(remaining, options.CancellationToken);
            RetryOrFail(closed);
            return;
        }
        // From here the deadline and the token end the call, also while it waits for a slot.
        StartTimers(remaining, options.CancellationToken);
        if (added == CallRegistry.AddResult.Full)
        {
            // Every slot taken: wait in the queue, with what the start needs (set before the call is queued, where the
            // thread that grants it a slot reads it). Rare, so only these calls allocate it.
            _queued = new QueuedStart(request, sendRequest, options.Headers, until, options.IsWaitForReady);
            added = _connection.TryAdd(this, queue: true, out closed);
            if (added == CallRegistry.AddResult.Full)
            {
                return; // StartQueued sends it
            }
            if (added == CallRegistry.AddResult.Closed)
            {
                RetryOrFail(closed); // ended or drained between the two tries: nothing was sent
                return;
            }
            // A slot freed between the two tries. The timers run already, so the call may have ended before this
            // registration (Finish then found nothing to remove): it starts as a call granted a slot, which looks first.
            RunQueuedStart();
            return;
        }
        _streamId = StreamId;
        var start = new StartRequest(request, sendRequest, options.Headers, until, options.IsWaitForReady);
        if (SendStart(in start, remaining == Timeout.InfiniteTimeSpan ? -1L : (long)remaining.TotalMicroseconds) is { } lost)
        {
            // Its connection ended between its registration and its claim of the send (round 21): nothing of it was sent, so
            // it starts again as a call that waited (ClientCall.Retry.cs), with the start state only this rare call needs.
            StartAgainUnsent(new QueuedStart(in start), lost);
        }
    }

    /// <summary>
    /// A call that registered at its first try and lost its connection before its claim of the send: it gets the start state
    /// of a call that waits (<paramref name="queued"/>) and starts again on another connection, or ends with
    /// <paramref name="lost"/>. Its timers already run, so the state is set under the gate: a <see cref="Finish"/> either
    /// comes after and completes its start, or came before and <see cref="RetryOrFail"/> sees the call ended (a plain write
    /// here and the read of <c>_done</c> there could each miss the other).
    /// </summary>
    private void StartAgainUnsent(QueuedStart queued, Status lost)
    {
        lock (Gate)
        {
            _queued = queued;
        }
        RetryOrFail(lost);
    }

    /// <summary>The call's deadline (<paramref name="remaining"/> from now, or none) and token end it from here on.</summary>
    private void StartTimers(TimeSpan remaining, CancellationToken cancellationToken)
    {
        if (remaining != Timeout.InfiniteTimeSpan)
        {
            _deadlineTimer = DeadlineTimer.Start(static state => ((ClientCallBase)state!).CompleteLocally(new Status(StatusCode.DeadlineExceeded, "")), this, remaining);
        }
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(static state => ((ClientCallBase)state!).CompleteLocally(Cancelled), this);
        }
    }

    /// <summary>
    /// Sends the CallStart (and the request, if any) of a call that holds a slot, without waiting on the calling thread
    /// (round 17, part 2): what can go at once goes now; what cannot (the connection's queue not empty, the ring full: the
    /// server slow or frozen) is queued for the connection's asynchronous sender, and the call goes on from there
    /// (<see cref="ContinueQueuedStartAsync"/>) while this returns. Gives the slot back when no CallStart went into the ring
    /// (the call ended first, or its request failed to serialize); once it went, the call's end does (its trailers, or its
    /// Cancel). On the connection's reader thread (an inline continuation) the CallStart is deferred as before.
    /// </summary>
    /// <returns>
    /// Null, except for a call whose connection ended before its start claimed the send (<see cref="LostBeforeSent"/>; since
    /// round 24 the claim is its try's, holding room: <see cref="IQueuedSendClaim.TryClaimSend"/>): nothing of it was sent,
    /// its slot there was given back, and the caller starts it again with this status (<see cref="RetryOrFail"/>).
    /// </returns>
    private Status? SendStart(in StartRequest start, long timeoutMicroseconds)
    {
        FrameBuilder? requestFrame = null;
        var callStartSent = false; // sent, or handed to ContinueQueuedStartAsync (which then gives the slot back if it never goes)
        var leftToConnectionEnd = false; // its one try found the channel ended: the connection's end starts it again (round 23)
        Status? lostBeforeSent = null;
        try
        {
            // The request is serialized first, so a small one rides in the CallStart frame (FrameFlags.WithMessage):
            // one frame, one wake-up of a sleeping server, where CallStart then Message could wake it twice.
            requestFrame = start.SendRequest ? Serialization.Serialize(_method.RequestMarshaller, start.Request!, _maxSend) : null;
            CallTrace.Mark(CallTrace.Step.ClientSerialized);
            var carried = requestFrame is not null && _connection!.CanCarry(requestFrame);
            lostBeforeSent = LostBeforeSent();
            if (lostBeforeSent is not null)
            {
                return lostBeforeSent; // its connection ended first: nothing sent, it starts again (the finally gives the slot back)
            }
            var queuedStart = SendCallStart(in start, timeoutMicroseconds, carried ? requestFrame : null, out var takenBack);
            if (takenBack)
            {
                // Its try held room when the connection's end had taken it back (round 24): nothing written, it starts again.
                lostBeforeSent = LostBeforeSent();
                Debug.Assert(lostBeforeSent is not null, "taken back: the connection's end marked it");
                return lostBeforeSent;
            }
            callStartSent = true;
            if (queuedStart is not null)
            {
                // A carried request was copied with the CallStart (the finally returns its builder); a larger one goes once
                // the CallStart went, and the continuation owns its builder from here.
                var rest = carried ? null : requestFrame;
                if (rest is not null)
                {
                    requestFrame = null;
                }
                _ = ContinueQueuedStartAsync(queuedStart, rest);
                return null;
            }
            CallTrace.Mark(CallTrace.Step.ClientSent);
            if (AfterCallStartSent() && requestFrame is not null && !carried && SendRestOfRequest(requestFrame))
            {
                requestFrame = null; // the connection's sender returns it once the message went
            }
        }
        catch (OperationCanceledException) when (Volatile.Read(ref _done))
        {
            // The call ended (its token, its deadline) while its start waited to send: it has its status, and the server
            // heard nothing of it (a CallStart not sent) or gets the Cancel Finish sent (the request cut short).
        }
        catch (RpcException e)
        {
            CompleteLocally(e.Status);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            // Before the CallStart went or was queued, the one thing that can throw a loss is its one-record try, which then
            // published nothing when the peer had closed or died: the call starts again (LeaveFailedTryToConnectionEnd), at
            // once when the connection's end took it back meanwhile.
            leftToConnectionEnd = !callStartSent && LeaveFailedTryToConnectionEnd(e, in start, out lostBeforeSent);
            if (!leftToConnectionEnd && lostBeforeSent is null)
            {
                CompleteLocally(new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e));
            }
        }
        finally
        {
            if (requestFrame is not null)
            {
                FrameBuilder.Return(requestFrame);
            }
            if (!callStartSent && !leftToConnectionEnd)
            {
                // The server never heard of the call (every way here ended it, or it starts again): its slot goes to the next
                // one at once (a slot of an ended connection: nothing to grant). A call that starts again keeps its writes
                // and complete waiting for its start.
                _connection!.Release(this);
                if (lostBeforeSent is null)
                {
                    _queued?.Started.TrySetResult();
                }
            }
        }
        return lostBeforeSent; // null, or its failed try found the connection's end had taken it back (round 24)
    }

    /// <summary>
    /// The CallStart is in the ring: the call is started (its end now tells the server), and a write or complete waiting for
    /// the start goes on. False when the call ended meanwhile (then its Cancel is sent here if it ended on this side).
    /// </summary>
    private bool AfterCallStartSent()
    {
        bool endedMeanwhile;
        bool cancelledMeanwhile;
        lock (Gate)
        {
            _started = true;
            endedMeanwhile = _done;
            // Ended here (token, deadline) before it was marked started: the server must hear of it. Ended by the
            // server (its trailers can overtake this line when the request rode in CallStart): nothing to send.
            cancelledMeanwhile = _done && _localFailure;
        }
        OpenStartGate(); // a write or complete waiting for the start goes on
        if (endedMeanwhile && cancelledMeanwhile)
        {
            _connection!.SendCancel(this); // the slot goes back once the Cancel is in the ring
        }
        return !endedMeanwhile;
    }

    /// <summary>
    /// Sends a request too large to ride in the CallStart (which is in the ring) as Message frames with EndStream: what
    /// can go at once now, the rest queued for the connection's sender (the caller's thread does not wait). True: the
    /// builder is the connection's now. On the reader thread it is deferred as before (never waits).
    /// </summary>
    private bool SendRestOfRequest(FrameBuilder requestFrame)
    {
        if (_connection!.IsCurrentReader)
        {
            _connection.SendMessage(requestFrame, _streamId, endStream: true, SendWaitToken());
            return false;
        }
        if (_connection.SendMessageOrQueue(requestFrame, _streamId, endStream: true, SendWaitToken()) is not { } queued)
        {
            return false;
        }
        _ = AfterQueuedRequestAsync(queued);
        return true;
    }

    /// <summary>
    /// A request queued for the connection's sender: cancelled when the call ended (its Cancel follows it in the queue, sent
    /// by Finish); a lost connection ends the call with <c>Unavailable</c> (if nothing else ended it first).
    /// </summary>
    private async Task AfterQueuedRequestAsync(Task queued)
    {
        try
        {
            await queued.ConfigureAwait(false);
        }
#pragma warning disable CA1031 // nobody awaits this: whatever ended the send ends the call (or it had ended already)
        catch (Exception e)
        {
            if (e is not OperationCanceledException || !Volatile.Read(ref _done))
            {
                CompleteLocally(new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e));
            }
        }
#pragma warning restore CA1031
    }

    /// <summary>
    /// The call's CallStart waits in the connection's queue (<paramref name="queuedStart"/> completes once it is in the
    /// ring, or is cancelled when the call ended first, in which case nothing of it was sent): then the call is started and
    /// <paramref name="rest"/> (a request too large to ride in the CallStart, or null) is sent or queued. When the CallStart
    /// never went, the slot goes back here (the server never heard of the call, so no Cancel is sent); when its connection
    /// ended before the sender claimed its send, the call starts again instead (<see cref="SettleUnsentQueuedStart"/>,
    /// round 22). Never throws.
    /// </summary>
    private async Task ContinueQueuedStartAsync(Task queuedStart, FrameBuilder? rest)
    {
        var sent = false;
        var takenBack = false; // the connection's end took it back: it starts again, from here or from that end
        try
        {
            Exception? failure = null;
            try
            {
                await queuedStart.ConfigureAwait(false);
                sent = true;
            }
#pragma warning disable CA1031 // the CallStart's send failed: SettleUnsentQueuedStart and the lines below say what that means for the call
            catch (Exception e)
            {
                failure = e;
            }
#pragma warning restore CA1031
            if (failure is not null)
            {
                var settled = SettleUnsentQueuedStart(failure);
                takenBack = settled != UnsentQueuedStart.Ended;
                if (settled == UnsentQueuedStart.StartAgain)
                {
                    var lost = _connection!.ClosedStatus; // written before the connection's end took the call back
                    _connection.Release(this); // a slot of an ended connection: nothing to grant
                    RetryOrFail(lost);
                }
                else if (!takenBack && !(failure is OperationCanceledException && Volatile.Read(ref _done)))
                {
                    // Sent in part, or failed after the sender claimed it (the ring may hold it), or a fault: it ends here.
                    // Cancelled when the call ended (Dispose, token, deadline): never sent, the call has its status.
                    FailStart(failure);
                }
            }
            if (sent && AfterCallStartSent() && rest is not null && SendRestOfRequest(rest))
            {
                rest = null;
            }
        }
#pragma warning disable CA1031 // a pool continuation: whatever the connection throws ends this call, not the process
        catch (Exception e)
        {
            FailStart(e);
        }
#pragma warning restore CA1031
        finally
        {
            if (rest is not null)
            {
                FrameBuilder.Return(rest);
            }
            if (!sent && !takenBack)
            {
                _connection!.Release(this);
                _queued?.Started.TrySetResult();
            }
        }
    }

    /// <summary>Ends the call for a failed start: <c>Unavailable</c> when the connection failed, else <c>Internal</c>.</summary>
    private void FailStart(Exception e)
        => CompleteLocally(ConnectionErrors.IsLoss(e)
            ? new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e)
            : new Status(StatusCode.Internal, "Starting the call failed: " + e.Message, e));

    private static Status Cancelled => new(StatusCode.Cancelled, "Call canceled by the client.");

    /// <summary>
    /// Sends CallStart; with <paramref name="request"/> (a serialized message the connection can carry) in the same frame.
    /// Null when it went (or, on the reader thread, was deferred); else the task of its copy queued for the connection's sender.
    /// </summary>
    private Task? SendCallStart(in StartRequest start, long timeoutMicroseconds, FrameBuilder? request, out bool takenBack)
    {
        if (request is not null)
        {
            CallConnection.StartCarrierFrame(request, FrameType.CallStart, FrameFlags.EndStream, _streamId);
            WriteCallStartFields(request, timeoutMicroseconds, start.Headers);
            return SendStartFrame(request.Written, in start, out takenBack);
        }
        var builder = FrameBuilder.Rent();
        try
        {
            Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.CallStart, FrameFlags.None, _streamId);
            WriteCallStartFields(builder, timeoutMicroseconds, start.Headers);
            return SendStartFrame(builder.Written, in start, out takenBack);
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }

    /// <summary>
    /// Sends the CallStart without waiting on the caller's thread: at once when it can be (null); else a copy is queued for
    /// the connection's asynchronous sender, in order behind what was queued before it, and the returned task completes once
    /// it is in the ring, or is cancelled (nothing of it sent) when the call ended first (<see cref="SendWaitToken"/>).
    /// Meanwhile the call's writes and complete wait for its start (<see cref="StartGated"/>, opened by
    /// <see cref="OpenStartGate"/>). On the reader thread it is deferred (it never waits there either): the task completes
    /// once that thread sent it (a call that ended meanwhile sends its Cancel then, <see cref="AfterCallStartSent"/>).
    /// </summary>
    private Task? SendStartFrame(ReadOnlySpan<byte> frame, in StartRequest start, out bool takenBack)
    {
        // The try claims the send only holding room for the record (round 24; before, the start claimed before it): a try
        // that fails leaves the call Unsent, so the connection's end can still take it back until it is queued.
        var tried = _connection!.TrySendFrameNowClaimed(frame, this);
        if (tried == ClaimedTry.NotNow && _connection.IsCurrentReader)
        {
            tried = _connection.TrySendOnReaderNow(frame, this);
        }
        takenBack = tried == ClaimedTry.TakenBack;
        if (tried != ClaimedTry.NotNow)
        {
            // Sent now, also from the reader thread (an inline continuation: TrySendFrameNowClaimed always declines there),
            // before any start state is made: round 23's first version made it first there, 176 B on every such call
            // (GrpcPerf's unary loop: 674 -> 850 B per call). Or taken back: the caller starts the call again.
            return null;
        }
        // Rare (the server slow or frozen), so only these calls allocate the start state: made before the CallStart is
        // queued, so a write made as soon as the call returns sees its start gated (a queued call has it already). With
        // all the start needs: until the sender claims the send, the connection's end may start the call again (round 22).
        _queued ??= new QueuedStart(in start);
        if (_connection.IsCurrentReader)
        {
            // Started on the connection's reader thread (an inline continuation) with the ring full: the CallStart waits in
            // that thread's deferred frames, and the call goes on from there as from the sender's queue (round 23; before,
            // it counted as sent at once, so the connection's end failed it Unavailable though none of it was in the ring).
            return _connection.SendOrDeferClaimed(frame, this, s_startNotSent, SendWaitToken());
        }
        return _connection.SendFrameOrQueue(frame, SendWaitToken(), this);
    }

    /// <summary>What a CallStart deferred on the reader thread fails with when the connection ended before it went (a loss: ClientCall.Retry.cs).</summary>
    private static readonly Func<Exception, Exception> s_startNotSent = static reason =>
        new IOException("The connection to the server ended before the call's start went: " + reason.Message, reason);

    /// <summary>
    /// The token a send of this call waits with: <see cref="_sendWait"/>'s, made on first need under the gate (Finish
    /// cancels it once the call ended); already cancelled when the call ended before.
    /// </summary>
    private CancellationToken SendWaitToken()
    {
        lock (Gate)
        {
            if (_done)
            {
                return new CancellationToken(canceled: true);
            }
            _sendWait ??= new CancellationTokenSource();
            return _sendWait.Token;
        }
    }

    private void WriteCallStartFields(FrameBuilder builder, long timeoutMicroseconds, Metadata? headers)
    {
        builder.WriteInt64(timeoutMicroseconds);
        builder.WriteShortString(_method.FullName);
        MetadataCodec.Write(builder, headers);
    }
}
