using System.Diagnostics;
using Grpc.Core;
using IIC.Grpc.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>
/// One call of a bound method: reads requests, runs the service method (its instance resolved, when it needs one, from a DI scope made
/// for this call, as Grpc.AspNetCore does), writes responses, and ends with status and trailers.
/// </summary>
internal sealed partial class ServerCall<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService, TRequest, TResponse> : ServerCallBase, IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, IThreadPoolWorkItem, IBatchWake, IBatchedMessageReaderOwner
    where TService : class
    where TRequest : class
    where TResponse : class
{
    private readonly ServerMethod<TService, TRequest, TResponse> _handler;
    private readonly BatchedMessageReader<TRequest>? _requests; // streamed requests, deserialized by the reader thread; also their lock
    private bool _requestsEnded; // half-closed, the last message came, or the call was cancelled (under the lock)
    private Exception? _requestsError; // cancelled: what MoveNext throws once the queue is read (under the lock)
    private int _writesSinceYield; // the handler's writes since it last yielded to the reader (its writes are sequential)
    private TaskCompletionSource? _resumeAfterPoll; // a handler yielding to its reader thread (reader thread only)
    private ReceivedMessage _single;
    private TRequest? _inPlaceRequest; // the single request deserialized from the ring (TryStartInPlace)
    private RpcException? _inPlaceFailure; // or why it could not be: the handler's run ends with its status
    private int _launched;

    public ServerCall(ServerMethod<TService, TRequest, TResponse> handler, ServerConnection connection, uint streamId, Metadata requestHeaders, long timeoutMicroseconds)
        : base(connection, streamId, handler.FullName, requestHeaders, timeoutMicroseconds)
    {
        _handler = handler;
        if (!handler.StartsWithRequest)
        {
            _requests = new BatchedMessageReader<TRequest>(this, handler.Inline);
        }
    }

    public TRequest Current => _requests is null ? default! : _requests.Current;

    public override void OnMessage(ReceivedMessage message, bool endStream)
    {
        if (_requests is null)
        {
            if (Volatile.Read(ref _launched) != 0)
            {
                message.Return(); // a second request to a single-request method: ignored
                return;
            }
            _single = message;
            Launch();
            return;
        }
        // A streamed request gathered from chunks (or over the in-place path's bounds): parsed here, as in place.
        StreamEntry<TRequest> entry;
        try
        {
            entry = new StreamEntry<TRequest>(Serialization.Deserialize(_handler.Method.RequestMarshaller, message), null);
        }
        catch (RpcException e)
        {
            entry = new StreamEntry<TRequest>(null, e);
        }
        Accept(entry, endStream);
    }

    public override bool TryAddInPlace(ReadOnlySpan<byte> payload, bool endStream)
    {
        if (_requests is null)
        {
            return false; // the single request of a unary or server streaming method that did not ride in CallStart: copied
        }
        // Deserialized while the bytes are in the ring (the frame callback): the message object is all that is queued.
        TRequest? request = null;
        RpcException? failure = null;
        try
        {
            request = InPlaceDeserialization.Deserialize(_handler.Method.RequestMarshaller, payload);
        }
        catch (RpcException e)
        {
            failure = e;
        }
        Accept(new StreamEntry<TRequest>(request, failure), endStream);
        return true;
    }

    /// <summary>Queues a streamed request (reader thread); a waiting MoveNext is woken at the end of the poll batch.</summary>
    private void Accept(in StreamEntry<TRequest> entry, bool endStream)
    {
        var now = Connection.WakeNow; // the A/B switch IIC_GRPC_WAKE_FIRST_NOW (CallConnection)
        bool wake;
        lock (_requests!.Gate)
        {
            if (_requestsEnded)
            {
                return; // after the half-close, the end or the cancellation: dropped
            }
            wake = _requests.Enqueue(entry, now);
            _requestsEnded = endStream;
        }
        if (wake)
        {
            _requests.Wake(now, Connection, this);
        }
    }

    /// <summary>No more requests come (half-close) or will be read (cancelled: <paramref name="error"/>, thrown after the queue).</summary>
    private void EndRequests(Exception? error)
    {
        lock (_requests!.Gate)
        {
            if (_requestsEnded)
            {
                return;
            }
            _requestsEnded = true;
            _requestsError = error;
        }
        _requests.WakeMoveNext();
    }

    void IBatchWake.OnBatchEnd()
    {
        // Both may be pending (a handler reading and writing from two tasks): each is resolved; a spare call finds nothing.
        _requests?.OnBatchEnd();
        if (_resumeAfterPoll is { } resume)
        {
            _resumeAfterPoll = null;
            resume.SetResult(); // the handler writes on, here
        }
        _requests?.WakeMoveNext();
    }

    public override bool TryStartInPlace(ReadOnlySpan<byte> payload)
    {
        if (_requests is not null || !_handler.Inline || Volatile.Read(ref _launched) != 0)
        {
            return false; // streaming requests, handlers on the pool (they run after the frame is gone), or a duplicate
        }
        try
        {
            _inPlaceRequest = InPlaceDeserialization.Deserialize(_handler.Method.RequestMarshaller, payload);
            CallTrace.Mark(CallTrace.Step.ServerRequestParsed);
        }
        catch (RpcException e)
        {
            _inPlaceFailure = e;
        }
        Launch();
        return true;
    }

    public override void OnHalfClose()
    {
        if (_requests is not null)
        {
            EndRequests(null);
        }
    }

    protected override void OnTokenCancelled(CancellationToken token)
    {
        if (_requests is not null)
        {
            EndRequests(new OperationCanceledException(token));
        }
    }

    public override void Launch()
    {
        if (Interlocked.Exchange(ref _launched, 1) == 0)
        {
            if (_handler.Inline)
            {
                // The call's span (when traced) is current while the handler runs: its awaits carry it on; the reader
                // thread gets its own (none) back when the handler's synchronous part returns.
                var span = Telemetry?.Span;
                var previous = span is null ? null : Activity.Current;
                if (span is not null)
                {
                    Activity.Current = span;
                }
                try
                {
                    if (_handler.Type == MethodType.Unary && !_handler.Activator.NeedsScope)
                    {
                        RunUnary(); // on the reader thread; no state machine unless the handler waits
                    }
                    else
                    {
                        _ = RunAsync(); // on the reader thread up to the handler's first incomplete await
                    }
                }
                finally
                {
                    if (span is not null)
                    {
                        Activity.Current = previous;
                    }
                }
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        if (Telemetry?.Span is not { } span)
        {
            _ = RunAsync();
            return;
        }
        var previous = Activity.Current;
        Activity.Current = span; // current while the handler runs, as above
        try
        {
            _ = RunAsync();
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    /// <summary>
    /// Runs the handler and ends the call: activation (in a DI scope when the service needs one), the handler, the
    /// single response's serialization, the status (also from what any of them threw), the service's and the scope's
    /// disposal, then the trailers. With <paramref name="begun"/> it continues a unary call <see cref="RunUnary"/>
    /// started and could not finish synchronously: the same steps from the handler's task on, one copy of them.
    /// </summary>
    private async Task RunAsync(BegunUnary begun = default)
    {
        Status status;
        FrameBuilder? single = null; // the single response, sent with the trailers
        var activator = _handler.Activator;
        var needsScope = activator.NeedsScope && !begun.Begun; // RunUnary runs only services that need no scope
        var scope = needsScope ? _handler.Services.CreateAsyncScope() : default;
        var service = begun.Service;
        var created = begun.Created;
        try
        {
            if (begun.Thrown is { } thrown)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(thrown); // the activation's or the handler's, as if thrown here
            }
            if (!begun.Begun)
            {
                (service, created) = activator.Activate(needsScope ? scope.ServiceProvider : null);
            }
            switch (_handler.Type)
            {
                case MethodType.Unary:
                    single = SerializeSingle(await (begun.Pending ?? _handler.Unary!(service!, TakeSingle(), this)).ConfigureAwait(false));
                    break;
                case MethodType.ServerStreaming:
                    await _handler.ServerStreaming!(service!, TakeSingle(), this, this).ConfigureAwait(false);
                    break;
                case MethodType.ClientStreaming:
                    single = SerializeSingle(await _handler.ClientStreaming!(service!, this, this).ConfigureAwait(false));
                    break;
                default:
                    await _handler.DuplexStreaming!(service!, this, this, this).ConfigureAwait(false);
                    break;
            }
            status = StatusAfterHandler();
        }
        catch (Exception e)
        {
            status = StatusAfterHandler(e);
        }
        finally
        {
            if (created)
            {
                await Dispose(service!).ConfigureAwait(false);
            }
            if (needsScope)
            {
                await scope.DisposeAsync().ConfigureAwait(false);
            }
        }
        Finish(status, single);
    }

    /// <summary>
    /// A unary call whose handler runs inline and whose service needs no DI scope: <see cref="RunAsync"/>'s steps without
    /// an async state machine when the handler's task is already complete (<c>Task.FromResult</c>, or an async handler
    /// that never waited) and the call made no disposable service. After an idle gap every distinct piece of code a call
    /// runs is slow (perf/RESULTS.md, "Round 8, branch native"): the state machine's start, execution-context switch and
    /// completion were code a synchronous handler did not need. Otherwise <see cref="RunAsync"/> continues
    /// from the handler's task (<see cref="BegunUnary"/>): one copy of the handler's catch and cleanup.
    /// </summary>
    private void RunUnary()
    {
        TService? service = null;
        var created = false;
        Task<TResponse>? pending = null;
        Exception? thrown = null;
        try
        {
            (service, created) = _handler.Activator.Activate(null);
            pending = _handler.Unary!(service, TakeSingle(), this);
            CallTrace.Mark(CallTrace.Step.ServerHandlerReturned);
        }
        catch (Exception e)
        {
            thrown = e;
        }
        if ((thrown is null && !pending!.IsCompleted) || (created && service is IDisposable or IAsyncDisposable))
        {
            _ = RunAsync(new BegunUnary(pending, thrown, service, created));
            return;
        }
        Status status;
        FrameBuilder? single = null;
        if (thrown is not null)
        {
            status = StatusAfterHandler(thrown);
        }
        else
        {
            try
            {
                single = SerializeSingle(pending!.GetAwaiter().GetResult()); // throws what the handler's task failed with
                CallTrace.Mark(CallTrace.Step.ServerSerialized);
                status = StatusAfterHandler();
            }
            catch (Exception e)
            {
                status = StatusAfterHandler(e);
            }
        }
        Finish(status, single);
        CallTrace.Mark(CallTrace.Step.ServerSent);
    }

    /// <summary>A unary call <see cref="RunUnary"/> began: the handler's task or what was thrown first, and the service made for it.</summary>
    private readonly record struct BegunUnary(Task<TResponse>? Pending, Exception? Thrown, TService? Service, bool Created)
    {
        /// <summary>Whether there is one (default: <see cref="RunAsync"/> runs the call from the start).</summary>
        public bool Begun => Pending is not null || Thrown is not null;
    }

    /// <summary>The status of a call whose handler returned.</summary>
    private Status StatusAfterHandler() => DeadlineExceeded ? new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded") : ResetByHandler ? HandlerResetStatus : Status;

    /// <summary>The status of a call whose handler (or its activation, or the response's serialization) threw <paramref name="e"/>.</summary>
    private Status StatusAfterHandler(Exception e)
    {
        if (e is RpcException rpc)
        {
            foreach (var entry in rpc.Trailers)
            {
                ResponseTrailers.Add(entry);
            }
            return rpc.Status;
        }
        var status = DeadlineExceeded ? new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded")
            : ClientGone ? new Status(StatusCode.Cancelled, "Call canceled by the client.")
            : ResetByHandler ? HandlerResetStatus
            : new Status(StatusCode.Unknown, _handler.DetailedErrors ? $"Exception was thrown by handler. {e.GetType().Name}: {e.Message}" : "Exception was thrown by handler.", e);
        if (status.StatusCode == StatusCode.Unknown)
        {
            _handler.Log.HandlerFailed(e, FullName());
        }
        return status;
    }

    private string FullName() => _handler.FullName;

    private static ValueTask Dispose(TService service)
    {
        if (service is IAsyncDisposable asyncDisposable)
        {
            return asyncDisposable.DisposeAsync();
        }
        (service as IDisposable)?.Dispose();
        return ValueTask.CompletedTask;
    }

    private TRequest TakeSingle()
    {
        if (_inPlaceRequest is { } request)
        {
            _inPlaceRequest = null;
            return request;
        }
        if (_inPlaceFailure is { } failure)
        {
            throw failure; // as a failed deserialization of a copied request would: the run ends with its status
        }
        var message = _single;
        _single = default;
        return Serialization.Deserialize(_handler.Method.RequestMarshaller, message);
    }

    /// <summary>Serializes the single response of a unary or client streaming call; null when the client is gone.</summary>
    private FrameBuilder? SerializeSingle(TResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (ClientGone)
        {
            return null;
        }
        ImplyResponseHeaders();
        return Serialization.Serialize(_handler.Method.ResponseMarshaller, response, _handler.MaxSend);
    }

    /// <summary>
    /// The next request (<see cref="BatchedMessageReader{T}.MoveNext"/>): without waiting while the reader thread has
    /// queued one; else woken at the end of the poll batch that brought the next ones.
    /// </summary>
    public Task<bool> MoveNext(CancellationToken cancellationToken) => _requests!.MoveNext(cancellationToken);

    /// <summary>Under the lock, the queue read: the requests ended (half-close, the last message, or cancelled: its error).</summary>
    bool IBatchedMessageReaderOwner.TryEnd(out Exception? failure)
    {
        failure = _requestsEnded ? _requestsError : null;
        return _requestsEnded;
    }

    /// <summary>The request failed to deserialize: the handler gets the RpcException here, in order.</summary>
    Exception IBatchedMessageReaderOwner.OnBrokenMessage(RpcException failure) => failure;

    Task<bool> IBatchedMessageReaderOwner.OnCancelledBeforeWait(CancellationToken token) => Task.FromCanceled<bool>(token);

    /// <summary>
    /// The call's own token (what handlers usually pass) ends the wait through OnTokenCancelled: no registration per
    /// wait on the bidi ping-pong's path. Any other token is registered.
    /// </summary>
    bool IBatchedMessageReaderOwner.RegistersWaitToken(CancellationToken token) => !IsCallToken(token);

    /// <summary>MoveNext's own token fired while it waited.</summary>
    void IBatchedMessageReaderOwner.OnWaitCancelled(CancellationToken token) => _requests!.CancelMoveNext(token);
}
