using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>The application's side of a <see cref="ClientCall{TRequest, TResponse}"/>: streams, headers, status, dispose.</summary>
internal sealed partial class ClientCall<TRequest, TResponse>
{
    public static readonly Func<object, Task<Metadata>> HeadersOf = static state => ((ClientCall<TRequest, TResponse>)state).ResponseHeadersAsync();
    public static readonly Func<object, Status> StatusOf = static state => ((ClientCall<TRequest, TResponse>)state).GetStatus();
    public static readonly Func<object, Metadata> TrailersOf = static state => ((ClientCall<TRequest, TResponse>)state).GetTrailers();
    public static readonly Action<object> DisposeOf = static state => ((ClientCall<TRequest, TResponse>)state).Dispose();

    public Task<Metadata> ResponseHeadersAsync()
    {
        lock (Gate)
        {
            if (_headers is not null)
            {
                return Task.FromResult(_headers);
            }
            if (_done)
            {
                return Task.FromException<Metadata>(new RpcException(_status));
            }
            _headersSource ??= new TaskCompletionSource<Metadata>(_inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
            return _headersSource.Task;
        }
    }

    public Status GetStatus()
    {
        lock (Gate)
        {
            return _done ? _status : throw new InvalidOperationException("Unable to get the status because the call is not complete.");
        }
    }

    public Metadata GetTrailers()
    {
        lock (Gate)
        {
            return _done ? _trailers! : throw new InvalidOperationException("Can't get the call trailers because the call has not completed successfully.");
        }
    }

    /// <summary>Disposing a call still in progress cancels it (as grpc-dotnet does).</summary>
    public void Dispose() => CompleteLocally(new Status(StatusCode.Cancelled, "gRPC call disposed."));

    /// <summary>
    /// The next response: taken from the queue the reader thread fills (already deserialized) without waiting while
    /// there is one; else a task the reader thread completes at the end of the poll batch that brought the next ones
    /// (<see cref="WakeMoveNext"/>), so a reader keeping up with a burst waits once per batch, not once per message.
    /// Waiting is the only allocation here: <see cref="IAsyncStreamReader{T}.MoveNext"/> returns a <see cref="Task{TResult}"/>,
    /// which cannot be reused, so each wait makes one (with its source).
    /// </summary>
    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        TaskCompletionSource<bool>? waiter = null;
        bool ready;
        bool more;
        RpcException? failure;
        bool endsCall;
        lock (Gate)
        {
            ready = TryTakeNext(out more, out failure, out endsCall);
            if (!ready && !cancellationToken.IsCancellationRequested)
            {
                if (_moveNextWaiter is not null)
                {
                    return Task.FromException<bool>(new InvalidOperationException("Can't read the next message because the previous read is still in progress."));
                }
                waiter = _moveNextWaiter = new TaskCompletionSource<bool>(_inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
        if (ready)
        {
            return failure is null ? (more ? s_true : s_false) : Fail(failure, endsCall);
        }
        if (waiter is null)
        {
            CompleteLocally(Cancelled);
            return Task.FromException<bool>(new RpcException(GetStatus()));
        }
        if (cancellationToken.CanBeCanceled)
        {
            // Registered outside the gate: a token cancelled meanwhile runs the callback right here, which ends the call
            // and resolves the waiter (Finish takes the gate and completes tasks, which must not happen under it).
            var registration = cancellationToken.UnsafeRegister(static state => ((ClientCall<TRequest, TResponse>)state!).CompleteLocally(Cancelled), this);
            lock (Gate)
            {
                if (ReferenceEquals(_moveNextWaiter, waiter))
                {
                    _moveNextCancellation = registration;
                    registration = default;
                }
            }
            registration.Unregister(); // the wait already ended: its registration is not needed
        }
        return waiter.Task;
    }

    /// <summary>
    /// Under the gate: what MoveNext gives now, if it need not wait: the next response (into <see cref="Current"/>), the
    /// end of the stream, or a failure (<paramref name="endsCall"/>: a response that failed to deserialize, which ends
    /// the call as grpc-dotnet does). False when nothing is there yet.
    /// </summary>
    private bool TryTakeNext(out bool more, out RpcException? failure, out bool endsCall)
    {
        more = false;
        failure = null;
        endsCall = false;
        if (_localFailure)
        {
            failure = new RpcException(_status); // ended here (cancelled, deadline, lost): the queue was dropped
            return true;
        }
        if (_responses!.TryDequeue(out var entry))
        {
            if (entry.Failure is { } broken)
            {
                failure = broken;
                endsCall = true;
                return true;
            }
            Current = entry.Message!;
            more = true;
            return true;
        }
        if (_done)
        {
            failure = _status.StatusCode == StatusCode.OK ? null : new RpcException(_status, _trailers!);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Resolves a waiting MoveNext with what is there now (nothing yet: it keeps waiting). Called by the reader thread at
    /// the end of a batch that queued responses and by <see cref="Finish"/> (any thread). With inline completions the
    /// awaiting code runs here, on the calling thread: at a batch's end it then takes every response of the batch
    /// before it waits again.
    /// </summary>
    private void WakeMoveNext()
    {
        TaskCompletionSource<bool> waiter;
        bool more;
        RpcException? failure;
        bool endsCall;
        CancellationTokenRegistration registration;
        lock (Gate)
        {
            if (_moveNextWaiter is null || !TryTakeNext(out more, out failure, out endsCall))
            {
                return;
            }
            waiter = _moveNextWaiter;
            _moveNextWaiter = null;
            registration = _moveNextCancellation;
            _moveNextCancellation = default;
        }
        registration.Unregister(); // does not wait for a callback running now (that may be what called this)
        if (failure is null)
        {
            waiter.TrySetResult(more);
            return;
        }
        waiter.TrySetException(endsCall ? EndOnBrokenMessage(failure) : failure);
    }

    /// <summary>A MoveNext that fails without waiting; a response that failed to deserialize ends the call first.</summary>
    private Task<bool> Fail(RpcException failure, bool endsCall) => Task.FromException<bool>(endsCall ? EndOnBrokenMessage(failure) : failure);

    /// <summary>
    /// A response failed to deserialize when the reader reached it: the call ends with that status (outside the gate:
    /// Finish completes tasks), also when the server's trailers had already ended it with OK (the rest is not read).
    /// </summary>
    private RpcException EndOnBrokenMessage(RpcException failure)
    {
        CompleteLocally(failure.Status);
        lock (Gate)
        {
            if (_status.StatusCode == StatusCode.OK)
            {
                _status = failure.Status;
                _responses!.Clear();
            }
        }
        return failure;
    }

    public Task WriteAsync(TRequest message)
    {
        lock (Gate)
        {
            if (_done)
            {
                return Task.FromException(_status.StatusCode == StatusCode.OK
                    ? new InvalidOperationException("Can't write the message because the call is complete.")
                    : new RpcException(_status, _trailers ?? []));
            }
            if (_halfClosed)
            {
                return Task.FromException(new InvalidOperationException("Request stream has already been completed."));
            }
        }
        try
        {
            SendRequest(message, endStream: false);
            return Task.CompletedTask;
        }
        catch (RpcException e)
        {
            CompleteLocally(e.Status);
            return Task.FromException(e);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            var status = new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e);
            CompleteLocally(status);
            return Task.FromException(new RpcException(status));
        }
    }

    public Task CompleteAsync()
    {
        lock (Gate)
        {
            if (_halfClosed || _done)
            {
                return Task.CompletedTask;
            }
            _halfClosed = true;
        }
        try
        {
            _connection!.SendEmptyFrame(FrameType.HalfClose, _streamId);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            CompleteLocally(new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e));
        }
        return Task.CompletedTask;
    }
}
