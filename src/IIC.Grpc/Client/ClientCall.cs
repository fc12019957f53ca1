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
    private ClientConnection? _connection; // null while the call waits for its connection (set once, under the gate: ClientCall.Connect.cs)
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
        Telemetry?.End(status);
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
        // Read again after the Unqueue: a call of a pool that was granted a slot instead may have moved (MoveTo, under the
        // pool's lock, which the Unqueue took after the grant).
        var connection = Volatile.Read(ref _connection);
        connection?.Remove(this); // a no-op when it was never registered
        if (!releaseNow && _queued is not null && TakeQueueFailedMark())
        {
            // Its queued CallStart failed unclaimed (QueueFailed) and was left to the connection's end, which the Remove above
            // keeps from reaching it: the slot goes back here (round 23; before, it stayed taken on that connection).
            releaseNow = true;
        }
        if (releaseNow)
        {
            connection?.Release(this);
        }
        _queued?.Started.TrySetResult(); // a write or complete waiting for the start goes on, and fails with this status
        if (sendCancel)
        {
            _connection!.SendCancel(this); // the slot goes back once the Cancel is in the ring
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
