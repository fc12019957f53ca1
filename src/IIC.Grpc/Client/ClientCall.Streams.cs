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
    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        CompleteLocally(new Status(StatusCode.Cancelled, "gRPC call disposed."));
    }

    /// <summary>
    /// Set by <see cref="Dispose"/> (whether or not the call had ended): the request stream then throws
    /// <see cref="ObjectDisposedException"/>, as grpc-dotnet's (GrpcCall.EnsureNotDisposed in WriteAsync and CompleteAsync),
    /// instead of answering as for a call that merely ended (WriteAsync failed Cancelled; CompleteAsync did nothing, silently),
    /// and so does the response stream's MoveNext (HttpContentClientStreamReader.MoveNext: thrown, not a faulted task).
    /// </summary>
    private bool _disposed;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);

    /// <summary>
    /// The next response (<see cref="BatchedMessageReader{T}.MoveNext"/>): without waiting while the reader thread has
    /// queued one; else woken at the end of the poll batch that brought the next ones. After <see cref="Dispose"/> it throws
    /// <see cref="ObjectDisposedException"/>, as grpc-dotnet's; a MoveNext already waiting when Dispose came ends Cancelled.
    /// </summary>
    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        return _responses!.MoveNext(cancellationToken);
    }

    /// <summary>
    /// Under the gate, the queue read: the call ended. Ended here (cancelled, deadline, lost): the queue was dropped
    /// (Finish cleared it under the gate, and Accept queues nothing once the call is done, so it is empty here); else the
    /// stream's end or the server's failure, with its trailers.
    /// </summary>
    bool IBatchedMessageReaderOwner.TryEnd(out Exception? failure)
    {
        failure = null;
        if (_localFailure)
        {
            failure = new RpcException(_status);
            return true;
        }
        if (_done)
        {
            failure = _status.StatusCode == StatusCode.OK ? null : new RpcException(_status, _trailers!);
            return true;
        }
        return false;
    }

    /// <summary>A response that failed to deserialize ends the call (as grpc-dotnet does) before MoveNext throws.</summary>
    Exception IBatchedMessageReaderOwner.OnBrokenMessage(RpcException failure) => EndOnBrokenMessage(failure);

    Task<bool> IBatchedMessageReaderOwner.OnCancelledBeforeWait(CancellationToken token)
    {
        CompleteLocally(Cancelled);
        return Task.FromException<bool>(new RpcException(GetStatus()));
    }

    bool IBatchedMessageReaderOwner.RegistersWaitToken(CancellationToken token) => true;

    /// <summary>A waiting MoveNext's token ends the call; Finish then resolves the waiter.</summary>
    void IBatchedMessageReaderOwner.OnWaitCancelled(CancellationToken token) => CompleteLocally(Cancelled);

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

    public Task WriteAsync(TRequest message) => StartGated ? WriteAfterStart(message) : WriteNow(message); // a queued call: after its start (ClientCall.Queue.cs)

    private Task WriteNow(TRequest message)
    {
        // As grpc-dotnet: refused before anything changes (handed to the marshaller, it would end the call with Internal).
        ArgumentNullException.ThrowIfNull(message);
        ThrowIfDisposed();
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
            if (_writing || _deferredWrite is { IsCompleted: false })
            {
                // As grpc-dotnet: one write at a time. Here it also keeps each message whole: a message larger than one
                // chunk goes as several frames, and another thread's write sending meanwhile (_writing) would put its
                // chunks between them, which the server takes for a broken peer and closes the connection, ending every
                // call on it. A pending deferred message waits in the reader thread's queue, and a write from another
                // thread would overtake it.
                return Task.FromException(new InvalidOperationException("Can't write the message because the previous write is in progress."));
            }
            _writing = true;
            _sendWait ??= new CancellationTokenSource(); // one per streaming call that writes, not per message
        }
        try
        {
            if (_connection!.IsCurrentReader)
            {
                // Written on the connection's reader thread (an inline continuation) into a full ring: the message goes after
                // the reader's next polls, and the write completes then (the reader must not wait: CallConnection.SendOrDefer).
                return SendRequest(message, endStream: false, _sendWait.Token) ? _deferredWrite = _connection.WhenDeferredSent(s_lostBeforeSent) : Task.CompletedTask;
            }
            // Round 17: what cannot go at once (the server not reading, another call's frames queued before it) is queued
            // for the connection's sender with its serialization buffer, and the write's task completes once it went: the
            // caller's thread does not wait (before, it waited for room, or for the send lock, until the server read).
            var builder = Serialization.Serialize(_method.RequestMarshaller, message, _maxSend);
            Task? queued;
            try
            {
                queued = _connection.SendMessageOrQueue(builder, _streamId, endStream: false, _sendWait.Token);
            }
            catch
            {
                FrameBuilder.Return(builder);
                throw;
            }
            if (queued is null)
            {
                FrameBuilder.Return(builder); // else the connection's sender returns it once the message went
                return Task.CompletedTask;
            }
            return _deferredWrite = AfterQueuedWrite(queued);
        }
        catch (OperationCanceledException) when (_sendWait.IsCancellationRequested)
        {
            // The call ended (Dispose, token, deadline, trailers, lost) while the write waited for room: what ended it.
            lock (Gate)
            {
                return Task.FromException(new RpcException(_status, _trailers ?? []));
            }
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
        finally
        {
            // After _deferredWrite is set: a write or complete that sees this sees a deferred message too.
            Volatile.Write(ref _writing, false);
        }
    }

    /// <summary>
    /// A write whose message was queued for the connection's sender: its outcome as <see cref="WriteAsync(TRequest)"/>'s
    /// synchronous path reports it (the call's status when the call ended while it waited; <c>Unavailable</c> when the
    /// connection failed).
    /// </summary>
    private async Task AfterQueuedWrite(Task queued)
    {
        try
        {
            await queued.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_sendWait!.IsCancellationRequested)
        {
            // The call ended (Dispose, token, deadline, trailers, lost) while the write waited: what ended it.
            RpcException ended;
            lock (Gate)
            {
                ended = new RpcException(_status, _trailers ?? []);
            }
            throw ended;
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            var status = new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e);
            CompleteLocally(status);
            throw new RpcException(status);
        }
    }

    /// <summary>
    /// As grpc-dotnet's client writer (WriteCoreAsync, TryRegisterCancellation): <paramref name="cancellationToken"/> cancels
    /// the call while this write is in progress (already cancelled: the call ends now and the write fails
    /// <c>Cancelled</c>). Without this override the interface's default threw <see cref="NotSupportedException"/> for any
    /// token that can be cancelled, where Grpc.Net.Client takes it.
    /// </summary>
    public Task WriteAsync(TRequest message, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return WriteAsync(message);
        }
        ArgumentNullException.ThrowIfNull(message);
        ThrowIfDisposed();
        // Runs at once when the token is already cancelled: the call ends, and the write below fails with its status.
        var registration = cancellationToken.UnsafeRegister(static state => ((ClientCallBase)state!).CompleteLocally(Cancelled), this);
        return RegisteredWrite.Run(this, message, static (call, request) => call.WriteAsync(request), registration);
    }

    /// <summary>
    /// A write is sending its message now (set and tested under the gate, cleared by the writing thread when its send
    /// returned): a second write or a complete meanwhile is refused, as a pending deferred write is.
    /// </summary>
    private bool _writing;

    /// <summary>
    /// Cancelled when the call ends (Finish): a write waiting for room in the ring (the server not reading), queued for
    /// the connection's sender, stops waiting then (its task fails with the call's status) instead of waiting until the
    /// server reads again. Made by the
    /// first write, under the gate.
    /// </summary>
    private CancellationTokenSource? _sendWait;

    /// <summary>
    /// The last write's task when it was deferred (CallConnection.SendOrDefer) or queued for the connection's sender
    /// (round 17: CallConnection.SendMessageOrQueue), set by the writing thread after its send
    /// and read under the gate by the next write or the half-close, which may not start until it completed (the
    /// application hands its writes from thread to thread through their awaits, which order these accesses).
    /// </summary>
    private Task? _deferredWrite;

    /// <summary>What a deferred write throws when the connection ended before its message went.</summary>
    private static readonly Func<Exception, Exception> s_lostBeforeSent = static reason =>
        new RpcException(new Status(StatusCode.Unavailable, "The connection to the server failed: " + reason.Message, reason));

    public Task CompleteAsync() => StartGated ? CompleteAfterStart() : CompleteNow(); // a queued call: after its start (ClientCall.Queue.cs)

    private Task CompleteNow()
    {
        ThrowIfDisposed();
        lock (Gate)
        {
            if (_halfClosed || _done)
            {
                return Task.CompletedTask;
            }
            if (_writing || _deferredWrite is { IsCompleted: false })
            {
                // A HalfClose sent while another thread's write is still sending would overtake that message.
                return Task.FromException(new InvalidOperationException("Can't complete the request stream because the previous write is in progress."));
            }
            _halfClosed = true;
        }
        try
        {
            // Never waits on the caller's thread (round 15: it waited for room, or for the send lock another call's write
            // held, while the server did not read, although this returns a Task): sent now if it can be, else queued for
            // the connection's sender behind the frames queued before it (CallConnection.SendEmptyFrameWithoutWaiting).
            // Order holds: every message of this call is in the ring or queued already (no write in progress, checked above).
            _connection!.SendEmptyFrameWithoutWaiting(FrameType.HalfClose, _streamId);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            CompleteLocally(new Status(StatusCode.Unavailable, "The connection to the server failed: " + e.Message, e));
        }
        return Task.CompletedTask;
    }
}
