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

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _localFailure))
        {
            return Task.FromException<bool>(new RpcException(GetStatus()));
        }
        if (_responses!.Reader.TryRead(out var message))
        {
            return TakeCurrent(message) ? s_true : Task.FromException<bool>(new RpcException(GetStatus()));
        }
        return MoveNextSlowAsync(cancellationToken);
    }

    private async Task<bool> MoveNextSlowAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            bool more;
            try
            {
                more = await _responses!.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                CompleteLocally(Cancelled);
                throw new RpcException(GetStatus());
            }
            if (Volatile.Read(ref _localFailure))
            {
                throw new RpcException(GetStatus());
            }
            if (_responses.Reader.TryRead(out var message))
            {
                return TakeCurrent(message) ? true : throw new RpcException(GetStatus());
            }
            if (!more)
            {
                var status = GetStatus();
                return status.StatusCode == StatusCode.OK ? false : throw new RpcException(status, GetTrailers());
            }
        }
    }

    private bool TakeCurrent(ReceivedMessage message)
    {
        try
        {
            Current = Serialization.Deserialize(_method.ResponseMarshaller, message);
            return true;
        }
        catch (RpcException e)
        {
            CompleteLocally(e.Status);
            return false;
        }
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
