using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>
/// One call from the client's side, of any shape: the request writer, the response reader (or the single response
/// task), response headers, status and trailers. The connection's reader thread feeds it; the application reads it.
/// Every state change happens under one lock, so a cancel, a deadline, the server's trailers and a lost connection
/// can race and exactly one of them ends the call.
/// </summary>
internal sealed partial class ClientCall<TRequest, TResponse> : ClientCallBase, IAsyncStreamReader<TResponse>, IClientStreamWriter<TRequest>, IBatchWake, IBatchedMessageReaderOwner, IDisposable
    where TRequest : class
    where TResponse : class
{
    private readonly Method<TRequest, TResponse> _method;
    private readonly ClientConnection? _connection;
    private readonly int _maxSend;
    private readonly bool _inline;
    private readonly BatchedMessageReader<TResponse>? _responses; // streamed responses, deserialized by the reader thread
    private readonly TaskCompletionSource<TResponse>? _response;
    private TaskCompletionSource<Metadata>? _headersSource;
    private Metadata? _headers;
    private ReceivedMessage _single;
    private bool _hasSingle;
    private uint _streamId;
    private bool _started;
    private bool _done;
    private bool _localFailure;
    private bool _halfClosed;
    private Status _status;
    private Metadata? _trailers;
    private CancellationTokenRegistration _cancellation;
    private Timer? _deadlineTimer;

    // The call's options and a failed connection's status are used by Start only, so they are parameters there rather
    // than fields: a call object is one of the ~0.7 KB a unary call allocates (each fresh 4 KiB of heap a page fault
    // until gen0 recycles memory: perf/RESULTS.md, "Branch native (round 7)").
    public ClientCall(Method<TRequest, TResponse> method, ClientConnection? connection, int maxSend, bool inline)
    {
        _method = method;
        _connection = connection;
        _maxSend = maxSend;
        _inline = inline;
        if (method.Type is MethodType.ServerStreaming or MethodType.DuplexStreaming)
        {
            _responses = new BatchedMessageReader<TResponse>(this, inline);
        }
        else
        {
            _response = new TaskCompletionSource<TResponse>(inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>
    /// What every state change locks: the call's own response source (unary, client streaming) or response queue
    /// (server, bidi streaming), whichever it has. Both are made with the call and never seen by its users (who could
    /// otherwise lock them too, as they could the call itself: it is a streaming call's ResponseStream), so the call
    /// needs no lock object of its own (one object fewer per call: perf/RESULTS.md, "Round 8, branch native").
    /// </summary>
    private object Gate => (object?)_response ?? _responses!.Gate;

    /// <summary>The single response (unary and client streaming).</summary>
    public Task<TResponse> ResponseTask => _response!.Task;

    public TResponse Current => _responses is null ? default! : _responses.Current;

    public WriteOptions? WriteOptions { get; set; }

    /// <summary>
    /// Opens the call on the server with <paramref name="options"/>' deadline, token and headers; with
    /// <paramref name="request"/> (unary, server streaming) sends it and half-closes. Without a connection the call
    /// ends at once with <paramref name="connectFailure"/>. When the connection has as many calls open as the server allows
    /// (its Settings frame), the call waits in the connection's queue instead, and this returns at once: it is sent when a
    /// slot frees (<see cref="StartQueued"/>), and its token, deadline and Dispose end it meanwhile, with nothing sent.
    /// A call that holds a slot never waits here either: what cannot go at once is queued (<see cref="SendStart"/>).
    /// </summary>
    public void Start(TRequest? request, bool sendRequest, in CallOptions options, Status connectFailure)
    {
        if (_connection is null)
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
        if (options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            remaining = deadline.ToUniversalTime() - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                Finish(new Status(StatusCode.DeadlineExceeded, ""), new Metadata(), local: true);
                return;
            }
        }
        var added = _connection.TryAdd(this, queue: false, out var closed);
        if (added == CallRegistry.AddResult.Closed)
        {
            Finish(closed, new Metadata(), local: true);
            return;
        }
        // From here the deadline and the token end the call, also while it waits for a slot.
        if (remaining != Timeout.InfiniteTimeSpan)
        {
            _deadlineTimer = DeadlineTimer.Start(static state => ((ClientCallBase)state!).CompleteLocally(new Status(StatusCode.DeadlineExceeded, "")), this, remaining);
        }
        if (options.CancellationToken.CanBeCanceled)
        {
            _cancellation = options.CancellationToken.UnsafeRegister(static state => ((ClientCallBase)state!).CompleteLocally(Cancelled), this);
        }
        if (added == CallRegistry.AddResult.Full)
        {
            // Every slot taken: wait in the queue, with what the start needs (set before the call is queued, where the
            // thread that grants it a slot reads it). Rare, so only these calls allocate it.
            _queued = new QueuedStart(request, sendRequest, options.Headers, remaining == Timeout.InfiniteTimeSpan ? null : DateTime.UtcNow + remaining);
            added = _connection.TryAdd(this, queue: true, out closed);
            if (added == CallRegistry.AddResult.Full)
            {
                return; // StartQueued sends it
            }
            if (added == CallRegistry.AddResult.Closed)
            {
                Finish(closed, new Metadata(), local: true);
                _queued.Started.TrySetResult();
                return;
            }
        }
        _streamId = StreamId;
        SendStart(request, sendRequest, options.Headers, remaining == Timeout.InfiniteTimeSpan ? -1L : (long)remaining.TotalMicroseconds);
    }

    /// <summary>
    /// Sends the CallStart (and the request, if any) of a call that holds a slot, without waiting on the calling thread
    /// (round 17, part 2): what can go at once goes now; what cannot (the connection's queue not empty, the ring full: the
    /// server slow or frozen) is queued for the connection's asynchronous sender, and the call goes on from there
    /// (<see cref="ContinueQueuedStartAsync"/>) while this returns. Gives the slot back when no CallStart went into the ring
    /// (the call ended first, or its request failed to serialize); once it went, the call's end does (its trailers, or its
    /// Cancel). On the connection's reader thread (an inline continuation) the CallStart is deferred as before.
    /// </summary>
    private void SendStart(TRequest? request, bool sendRequest, Metadata? headers, long timeoutMicroseconds)
    {
        FrameBuilder? requestFrame = null;
        var callStartSent = false; // sent, or handed to ContinueQueuedStartAsync (which then gives the slot back if it never goes)
        try
        {
            // The request is serialized first, so a small one rides in the CallStart frame (FrameFlags.WithMessage):
            // one frame, one wake-up of a sleeping server, where CallStart then Message could wake it twice.
            requestFrame = sendRequest ? Serialization.Serialize(_method.RequestMarshaller, request!, _maxSend) : null;
            CallTrace.Mark(CallTrace.Step.ClientSerialized);
            var carried = requestFrame is not null && _connection!.CanCarry(requestFrame);
            var queuedStart = SendCallStart(timeoutMicroseconds, headers, carried ? requestFrame : null);
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
                return;
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
            CompleteLocally(new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e));
        }
        finally
        {
            if (requestFrame is not null)
            {
                FrameBuilder.Return(requestFrame);
            }
            if (!callStartSent)
            {
                // The server never heard of the call (every way here ended it): its slot goes to the next one at once.
                _connection!.Release(this);
                _queued?.Started.TrySetResult();
            }
        }
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
            SendCancelInOrder();
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
    /// never went, the slot goes back here (the server never heard of the call, so no Cancel is sent). Never throws.
    /// </summary>
    private async Task ContinueQueuedStartAsync(Task queuedStart, FrameBuilder? rest)
    {
        var sent = false;
        try
        {
            try
            {
                await queuedStart.ConfigureAwait(false);
                sent = true;
            }
            catch (OperationCanceledException) when (Volatile.Read(ref _done))
            {
                // Ended (Dispose, token, deadline, lost) while its CallStart was queued: never sent, the call has its status.
            }
            if (sent && AfterCallStartSent() && rest is not null && SendRestOfRequest(rest))
            {
                rest = null;
            }
        }
#pragma warning disable CA1031 // a pool continuation: whatever the connection throws ends this call, not the process
        catch (Exception e)
        {
            CompleteLocally(ConnectionErrors.IsLoss(e)
                ? new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e)
                : new Status(StatusCode.Internal, "Starting the call failed: " + e.Message, e));
        }
#pragma warning restore CA1031
        finally
        {
            if (rest is not null)
            {
                FrameBuilder.Return(rest);
            }
            if (!sent)
            {
                _connection!.Release(this);
                _queued?.Started.TrySetResult();
            }
        }
    }

    private static Status Cancelled => new(StatusCode.Cancelled, "Call canceled by the client.");

    /// <summary>
    /// Sends CallStart; with <paramref name="request"/> (a serialized message the connection can carry) in the same frame.
    /// Null when it went (or, on the reader thread, was deferred); else the task of its copy queued for the connection's sender.
    /// </summary>
    private Task? SendCallStart(long timeoutMicroseconds, Metadata? headers, FrameBuilder? request)
    {
        if (request is not null)
        {
            CallConnection.StartCarrierFrame(request, FrameType.CallStart, FrameFlags.EndStream, _streamId);
            WriteCallStartFields(request, timeoutMicroseconds, headers);
            return SendStartFrame(request.Written);
        }
        var builder = FrameBuilder.Rent();
        try
        {
            Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.CallStart, FrameFlags.None, _streamId);
            WriteCallStartFields(builder, timeoutMicroseconds, headers);
            return SendStartFrame(builder.Written);
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
    /// <see cref="OpenStartGate"/>). On the reader thread it is deferred (null: it never waits there either).
    /// </summary>
    private Task? SendStartFrame(ReadOnlySpan<byte> frame)
    {
        if (_connection!.TrySendFrameNow(frame))
        {
            return null;
        }
        if (_connection.IsCurrentReader)
        {
            if (_connection.SendFrame(frame, SendWaitToken()))
            {
                // Started on the connection's reader thread (an inline continuation) with the ring full: the CallStart waits in
                // that thread's queue, and the call's Cancel must not overtake it (SendCancelInOrder).
                // Writes from other threads wait for it too (OpenStartGate).
                (_queued ??= new QueuedStart(null, false, null, null)).DeferredCallStart = _connection.WhenDeferredSent(s_lostBeforeSent);
            }
            return null;
        }
        // Rare (the server slow or frozen), so only these calls allocate the start state: made before the CallStart is
        // queued, so a write made as soon as the call returns sees its start gated (a queued call has it already).
        _queued ??= new QueuedStart(null, false, null, null);
        return _connection.SendFrameOrQueue(frame, SendWaitToken());
    }

    /// <summary>
    /// Sends the call's Cancel after its CallStart is in the ring (a Cancel that overtook a deferred CallStart would be
    /// dropped by the server, which would then open the call, run it and count it against the limit while this side had
    /// given its slot back); the connection gives the slot back once the Cancel is in the ring.
    /// </summary>
    private void SendCancelInOrder()
    {
        if (_queued?.DeferredCallStart is { IsCompleted: false } pending)
        {
            pending.ContinueWith(static (_, state) => ((ClientCall<TRequest, TResponse>)state!)._connection!.SendCancel((ClientCallBase)state), this,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return;
        }
        _connection!.SendCancel(this);
    }

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

    /// <returns>Whether the message was deferred (written on the connection's reader thread, its ring full: <see cref="CallConnection.SendFrame"/>).</returns>
    private bool SendRequest(TRequest request, bool endStream, CancellationToken cancellationToken = default)
    {
        var builder = Serialization.Serialize(_method.RequestMarshaller, request, _maxSend);
        try
        {
            return _connection!.SendMessage(builder, _streamId, endStream, cancellationToken);
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }

    public override void CompleteLocally(Status status) => Finish(status, new Metadata(), local: true);

    public override void OnConnectionLost(Status status) => Finish(status, new Metadata(), local: true, connectionLost: true);

    public override void OnTrailers(Status status, Metadata trailers) => Finish(status, trailers, local: false);

    public override bool TryCompleteInPlace(Status status, Metadata trailers, ReadOnlySpan<byte> payload)
    {
        if (_responses is not null || status.StatusCode != StatusCode.OK || _hasSingle)
        {
            return false; // _hasSingle is set only on this (the reader) thread: an unlocked read is exact here
        }
        // Deserialized before the gate is taken, while the bytes are in the ring (the frame callback); the response
        // object is all that outlives it. A call that ended meanwhile (cancelled here) just drops it in Finish.
        InPlaceResponse response;
        try
        {
            response = new InPlaceResponse(InPlaceDeserialization.Deserialize(_method.ResponseMarshaller, payload), null);
            CallTrace.Mark(CallTrace.Step.ClientResponseParsed);
        }
        catch (RpcException e)
        {
            response = new InPlaceResponse(null, e.Status);
        }
        Finish(status, trailers, local: false, inPlace: response);
        return true;
    }

    /// <summary>A single response deserialized in place, or why it could not be.</summary>
    private readonly record struct InPlaceResponse(TResponse? Message, Status? Failure);

    public override void OnResponseHeaders(Metadata headers)
    {
        TaskCompletionSource<Metadata>? source;
        lock (Gate)
        {
            if (_headers is not null)
            {
                return;
            }
            _headers = headers;
            source = _headersSource;
        }
        source?.TrySetResult(headers);
    }

    public override bool TryAddInPlace(ReadOnlySpan<byte> payload)
    {
        if (_responses is null)
        {
            return false; // a single response that did not ride in the trailers: copied, delivered with them
        }
        if (Volatile.Read(ref _done))
        {
            return true; // ended here meanwhile (cancelled): nobody reads it, so it is not even parsed
        }
        // Deserialized while the bytes are in the ring (the frame callback): the message object is all that is queued.
        TResponse? response = null;
        RpcException? failure = null;
        try
        {
            response = InPlaceDeserialization.Deserialize(_method.ResponseMarshaller, payload);
        }
        catch (RpcException e)
        {
            failure = e;
        }
        Accept(new StreamEntry<TResponse>(response, failure));
        return true;
    }

    /// <summary>Queues a streamed response (reader thread); a waiting MoveNext is woken at the end of the poll batch.</summary>
    private void Accept(in StreamEntry<TResponse> entry)
    {
        TaskCompletionSource<Metadata>? headersSource = null;
        var now = _connection!.WakeNow; // the A/B switch IIC_GRPC_WAKE_FIRST_NOW (CallConnection)
        bool wake;
        lock (Gate)
        {
            if (_done)
            {
                return; // too late
            }
            if (_headers is null)
            {
                _headers = Metadata.Empty; // implied by the first message: none were sent
                headersSource = _headersSource;
            }
            wake = _responses!.Enqueue(entry, now);
        }
        if (wake)
        {
            _responses!.Wake(now, _connection!, this);
        }
        headersSource?.TrySetResult(Metadata.Empty);
    }

    void IBatchWake.OnBatchEnd()
    {
        _responses!.OnBatchEnd();
        _responses.WakeMoveNext();
    }

    public override void OnMessage(ReceivedMessage message)
    {
        if (_responses is not null)
        {
            // A streamed response gathered from chunks (or over the in-place path's bounds): parsed here, as in place.
            StreamEntry<TResponse> entry;
            try
            {
                entry = new StreamEntry<TResponse>(Serialization.Deserialize(_method.ResponseMarshaller, message), null);
            }
            catch (RpcException e)
            {
                entry = new StreamEntry<TResponse>(null, e);
            }
            Accept(entry);
            return;
        }
        TaskCompletionSource<Metadata>? headersSource = null;
        lock (Gate)
        {
            if (_done || _hasSingle)
            {
                message.Return(); // too late, or a second response to a single-response call (dropped)
                return;
            }
            if (_headers is null)
            {
                _headers = Metadata.Empty; // implied by the first message: none were sent
                headersSource = _headersSource;
            }
            _single = message;
            _hasSingle = true;
        }
        headersSource?.TrySetResult(_headers!);
    }

    private void Finish(Status status, Metadata trailers, bool local, bool connectionLost = false, InPlaceResponse? inPlace = null)
    {
        bool sendCancel;
        bool releaseNow;
        bool disposeSendWait;
        TaskCompletionSource<Metadata>? headersSource;
        Metadata? headers;
        ReceivedMessage single;
        bool hasSingle;
        lock (Gate)
        {
            if (_done)
            {
                return;
            }
            _done = true;
            _status = status;
            _trailers = trailers;
            _localFailure = local && status.StatusCode != StatusCode.OK;
            sendCancel = local && _started && !connectionLost;
            // The server counts the call no more once its trailers were read (or the connection is gone): the slot frees
            // now. Ended here after its CallStart: once the Cancel is in the ring (SendCancel). Ended here before: the
            // starting thread gives it back (SendStart), or it never had one (it waited in the queue).
            releaseNow = !local || connectionLost;
            // A write waiting for room holds the source's token until it returns: disposed here only when none does.
            disposeSendWait = !_writing;
            headersSource = _headersSource;
            headers = _headers ??= _localFailure ? null : Metadata.Empty;
            single = _single;
            hasSingle = _hasSingle;
            _hasSingle = false;
            if (_localFailure)
            {
                _responses?.Clear(); // ended here: the queued responses are never read
            }
        }
        _cancellation.Unregister();
        _deadlineTimer?.Dispose();
        if (_sendWait is { } sendWait)
        {
            sendWait.Cancel(); // a write waiting for room ends now (with this status), and lets go of the send lock
            if (disposeSendWait)
            {
                // Nobody reads its Token any more (SendWaitToken and a new write look at _done under the gate first; a
                // write in progress kept it alive above): it was never disposed before, one per streaming call.
                sendWait.Dispose();
            }
        }
        if (!releaseNow && _queued is not null)
        {
            // Ended while it waited for a slot: it never goes. Before the Remove: a slot granted to it at this moment
            // registered it (under the registry's lock) or finds it gone; registered, the Remove below takes it out and
            // RunQueuedStart, seeing it done, gives the slot back. (After the Remove, a grant in between left it in the
            // registry for good: CallLimitTests' churn saw a call that never left it.)
            _connection?.Unqueue(this);
        }
        _connection?.Remove(this); // a no-op when it was never registered
        if (releaseNow)
        {
            _connection?.Release(this);
        }
        _queued?.Started.TrySetResult(); // a write or complete waiting for the start goes on, and fails with this status
        if (sendCancel)
        {
            SendCancelInOrder(); // the slot goes back once the Cancel is in the ring
        }
        if (headersSource is not null)
        {
            if (headers is not null)
            {
                headersSource.TrySetResult(headers);
            }
            else
            {
                headersSource.TrySetException(new RpcException(status));
            }
        }
        if (_responses is not null)
        {
            _responses.WakeMoveNext(); // the end, or the rest of the queue then the end
            return;
        }
        CompleteResponse(status, trailers, single, hasSingle, inPlace);
    }

    private void CompleteResponse(Status status, Metadata trailers, ReceivedMessage single, bool hasSingle, InPlaceResponse? inPlace)
    {
        if (status.StatusCode != StatusCode.OK)
        {
            if (hasSingle)
            {
                single.Return();
            }
            _response!.TrySetException(new RpcException(status, trailers));
            return;
        }
        if (inPlace is { } response)
        {
            if (response.Message is { } message)
            {
                CallTrace.Mark(CallTrace.Step.ClientCompleting);
                _response!.TrySetResult(message);
            }
            else
            {
                SetFailure(response.Failure!.Value, trailers);
            }
            return;
        }
        if (!hasSingle)
        {
            SetFailure(new Status(StatusCode.Internal, "Failed to deserialize response message. The server ended the call without one."), trailers);
            return;
        }
        try
        {
            _response!.TrySetResult(Serialization.Deserialize(_method.ResponseMarshaller, single));
        }
        catch (RpcException e)
        {
            SetFailure(e.Status, trailers);
        }
    }

    private void SetFailure(Status status, Metadata trailers)
    {
        lock (Gate)
        {
            _status = status;
        }
        _response!.TrySetException(new RpcException(status, trailers));
    }
}
