using System.Threading.Channels;
using Grpc.Core;
using IIC.Grpc.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>
/// One call of a bound method: reads requests, runs the service method (its instance resolved, when it needs one, from a DI scope made
/// for this call, as Grpc.AspNetCore does), writes responses, and ends with status and trailers.
/// </summary>
internal sealed class ServerCall<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService, TRequest, TResponse> : ServerCallBase, IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, IThreadPoolWorkItem
    where TService : class
    where TRequest : class
    where TResponse : class
{
    private static readonly Task<bool> s_true = Task.FromResult(true);
    private static readonly Task<bool> s_false = Task.FromResult(false);

    private readonly ServerMethod<TService, TRequest, TResponse> _handler;
    private readonly Channel<ReceivedMessage>? _requests;
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
            _requests = Channel.CreateUnbounded<ReceivedMessage>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = handler.Inline });
        }
    }

    public TRequest Current { get; private set; } = default!;

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
        if (!_requests.Writer.TryWrite(message))
        {
            message.Return(); // after the half-close or the end
        }
        if (endStream)
        {
            _requests.Writer.TryComplete();
        }
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
        }
        catch (RpcException e)
        {
            _inPlaceFailure = e;
        }
        Launch();
        return true;
    }

    public override void OnHalfClose() => _requests?.Writer.TryComplete();

    protected override void OnTokenCancelled() => _requests?.Writer.TryComplete(new OperationCanceledException(CancellationToken));

    public override void Launch()
    {
        if (Interlocked.Exchange(ref _launched, 1) == 0)
        {
            if (_handler.Inline)
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
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }
    }

    void IThreadPoolWorkItem.Execute() => _ = RunAsync();

    private async Task RunAsync()
    {
        Status status;
        FrameBuilder? single = null; // the single response, sent with the trailers
        var activator = _handler.Activator;
        var scope = activator.NeedsScope ? _handler.Services.CreateAsyncScope() : default;
        TService? service = null;
        var created = false;
        try
        {
            (service, created) = activator.Activate(activator.NeedsScope ? scope.ServiceProvider : null);
            switch (_handler.Type)
            {
                case MethodType.Unary:
                    single = SerializeSingle(await _handler.Unary!(service, TakeSingle(), this).ConfigureAwait(false));
                    break;
                case MethodType.ServerStreaming:
                    await _handler.ServerStreaming!(service, TakeSingle(), this, this).ConfigureAwait(false);
                    break;
                case MethodType.ClientStreaming:
                    single = SerializeSingle(await _handler.ClientStreaming!(service, this, this).ConfigureAwait(false));
                    break;
                default:
                    await _handler.DuplexStreaming!(service, this, this, this).ConfigureAwait(false);
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
            if (activator.NeedsScope)
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
    /// completion were code a synchronous handler did not need. Otherwise the rest continues in <see cref="FinishUnaryAsync"/>,
    /// which ends the call exactly as <see cref="RunAsync"/> does.
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
        }
        catch (Exception e)
        {
            thrown = e;
        }
        if ((thrown is null && !pending!.IsCompleted) || (created && service is IDisposable or IAsyncDisposable))
        {
            _ = FinishUnaryAsync(pending, thrown, service, created);
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
                status = StatusAfterHandler();
            }
            catch (Exception e)
            {
                status = StatusAfterHandler(e);
            }
        }
        Finish(status, single);
    }

    /// <summary>The rest of <see cref="RunUnary"/> when its handler waits or its service must be disposed: as <see cref="RunAsync"/>.</summary>
    private async Task FinishUnaryAsync(Task<TResponse>? pending, Exception? thrown, TService? service, bool created)
    {
        Status status;
        FrameBuilder? single = null;
        try
        {
            if (thrown is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(thrown);
            }
            single = SerializeSingle(await pending!.ConfigureAwait(false));
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
        }
        Finish(status, single);
    }

    /// <summary>The status of a call whose handler returned.</summary>
    private Status StatusAfterHandler() => DeadlineExceeded ? new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded") : Status;

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

    private void WriteResponse(TResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (ClientGone)
        {
            return;
        }
        ImplyResponseHeaders();
        var builder = Serialization.Serialize(_handler.Method.ResponseMarshaller, response, _handler.MaxSend);
        try
        {
            Connection.SendMessage(builder, StreamId, endStream: false);
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }

    public Task WriteAsync(TResponse message)
    {
        if (IsCancelled)
        {
            return Task.FromException(new OperationCanceledException("The call was cancelled: its client cancelled, went away, or the deadline passed.", CancellationToken));
        }
        WriteResponse(message);
        return Task.CompletedTask;
    }

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (_requests!.Reader.TryRead(out var message))
        {
            Current = Serialization.Deserialize(_handler.Method.RequestMarshaller, message);
            return s_true;
        }
        return _requests.Reader.Completion.IsCompletedSuccessfully ? s_false : MoveNextSlowAsync(cancellationToken);
    }

    private async Task<bool> MoveNextSlowAsync(CancellationToken cancellationToken)
    {
        while (await _requests!.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_requests.Reader.TryRead(out var message))
            {
                Current = Serialization.Deserialize(_handler.Method.RequestMarshaller, message);
                return true;
            }
        }
        return false;
    }
}
