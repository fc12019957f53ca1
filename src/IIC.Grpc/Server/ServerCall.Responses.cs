using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Server;

// ServerCall, the response stream: the handler's writes (one at a time, never lost silently, holding no thread while the
// client does not read: docs/grpc-call-protocol.md 2.6, rounds 16-17) and an inline handler's yields to its reader thread.
internal sealed partial class ServerCall<TService, TRequest, TResponse>
{
    /// <summary>
    /// Sends one response message. Null when it went at once; <see cref="OperationCanceledException"/> when the client is
    /// gone (<see cref="ServerCallBase.ClientGoneBeforeSent"/>: its Cancel read after the write's first look). Else the task of its
    /// send: on the connection's reader thread (an inline handler) the message was deferred (it goes after the reader's
    /// next polls: it must not wait there, CallConnection.SendOrDefer); on any other thread what did not fit now was queued
    /// for the connection's sender, which awaits room without a thread (a client frozen or not reading holds no server
    /// thread). The call's token ends the wait (the client's Cancel, the deadline, the connection's end).
    /// </summary>
    private Task? WriteResponse(TResponse response, CancellationToken token)
    {
        if (ClientGone)
        {
            // Gone since WriteAsync's first look: nothing goes, and the write fails as one in progress when the call is
            // cancelled (before round 25b it reported success with nothing sent).
            throw ClientGoneBeforeSent();
        }
        ImplyResponseHeaders();
        var builder = Serialization.Serialize(_handler.Method.ResponseMarshaller, response, _handler.MaxSend);
        if (Connection.IsCurrentReader)
        {
            try
            {
                return Connection.SendMessage(builder, StreamId, endStream: false, token) ? Connection.WhenDeferredSent(s_goneBeforeSent) : null;
            }
            finally
            {
                FrameBuilder.Return(builder);
            }
        }
        Task? queued;
        try
        {
            queued = Connection.SendMessageOrQueue(builder, StreamId, endStream: false, token);
        }
        catch
        {
            FrameBuilder.Return(builder);
            throw;
        }
        if (queued is null)
        {
            FrameBuilder.Return(builder); // else the connection's sender returns it once the message went
            return null;
        }
        return AfterQueuedWrite(queued);
    }

    /// <summary>A queued write's outcome as the handler sees it: cancelled while waiting, as Grpc.AspNetCore's write in progress when the request is aborted.</summary>
    private static async Task AfterQueuedWrite(Task queued)
    {
        try
        {
            await queued.ConfigureAwait(false);
        }
        catch (OperationCanceledException e)
        {
            // The call's token fired while the write waited (queued, or for room): the rest of the message is not sent; the
            // client dropped the call (or gets its trailers after a torn message, which it drops with the call).
            throw WriteCancelled(e);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            // The connection ended while the write waited (the client went away, closed, or stalled past the server's
            // ResponseStallTimeout): as a deferred write says it, and as Kestrel's write in progress on an aborted connection
            // fails (ConnectionAbortedException, an OperationCanceledException), not with the channel's own exception.
            throw s_goneBeforeSent(e);
        }
    }

    private static OperationCanceledException WriteCancelled(OperationCanceledException e)
        => new("The call was cancelled while the message was being sent: its client cancelled, went away, the deadline passed, or a token given to a write was cancelled.", e, e.CancellationToken);

    /// <summary>What a write started after the call ended says, as Grpc.AspNetCore's (HttpContextStreamWriter.WriteCoreAsync).</summary>
    private static Task RequestComplete() => Task.FromException(new InvalidOperationException("Can't write the message because the request is complete."));

    protected override bool HasResponseStream => _handler.Type is MethodType.ServerStreaming or MethodType.DuplexStreaming;

    public Task WriteAsync(TResponse message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Ended || IsCancelled)
        {
            // As Grpc.AspNetCore (`_completed || RequestAborted.IsCancellationRequested`): the handler returned (a stream kept
            // past it, or written from a task it left running: the trailers went, so a message now would reach nobody), or
            // the call was cancelled (the client's Cancel, the deadline, a token given to a write): refused, not dropped
            // silently. A write already in progress when the call is cancelled fails with OperationCanceledException.
            return RequestComplete();
        }
        // Made before the write is marked running: making it may run the token's callbacks (a client already gone).
        var token = WriteWaitToken;
        if (Interlocked.Exchange(ref WriteRunning, 1) != 0)
        {
            return WriteInProgress();
        }
        if (PendingWrite is { IsCompleted: false })
        {
            Volatile.Write(ref WriteRunning, 0); // taken just now: the pending write is the one in progress
            return WriteInProgress();
        }
        if (Ended)
        {
            // Finish began between the look above and the mark (both full fences): the trailers go (or went) first.
            Volatile.Write(ref WriteRunning, 0);
            return RequestComplete();
        }
        Task? pending;
        try
        {
            pending = WriteResponse(message, token);
            if (pending is not null)
            {
                // Set before the write is let go (finally), so a write, or Finish, seeing it free sees this pending one.
                PendingWrite = pending;
            }
        }
        catch (OperationCanceledException e)
        {
            return Task.FromException(WriteCancelled(e));
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            return Task.FromException(s_goneBeforeSent(e)); // the connection ended as the write began: as above (AfterQueuedWrite)
        }
        finally
        {
            Volatile.Write(ref WriteRunning, 0);
        }
        if (pending is not null)
        {
            if (Connection.IsCurrentReader)
            {
                // Deferred: the handler continues after the reader's next polls, which is also a yield.
                _writesSinceYield = 0;
            }
            return pending;
        }
        if (++_writesSinceYield >= WritesPerYield && _handler.Inline && Connection.IsCurrentReader)
        {
            return YieldToReader();
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// A write with a token, as Grpc.AspNetCore's: the call's own token (<see cref="ServerCallContext.CancellationToken"/>)
    /// already ends the write's waits; another token cancels the whole call when it fires while the write is in progress
    /// (or before it starts): the write fails with OperationCanceledException and the client gets Cancelled, as the
    /// stream reset there. The interface's default threw NotSupportedException for any token that can be cancelled.
    /// </summary>
    Task IAsyncStreamWriter<TResponse>.WriteAsync(TResponse message, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled || IsCallToken(cancellationToken))
        {
            return WriteAsync(message);
        }
        ArgumentNullException.ThrowIfNull(message);
        // Registered first, as Grpc.AspNetCore: a token that fires during the write cancels the call, whose token ends the
        // write's wait. A token already cancelled runs the callback here, at once.
        var registration = cancellationToken.UnsafeRegister(static s => ((ServerCall<TService, TRequest, TResponse>)s!).ResetFromHandlerToken(), this);
        if (cancellationToken.IsCancellationRequested)
        {
            registration.Dispose();
            return Task.FromCanceled(cancellationToken);
        }
        return RegisteredWrite.Run(this, message, static (call, response) => call.WriteAsync(response), registration);
    }

    /// <summary>
    /// As grpc-dotnet: one write at a time. Here it also keeps each message whole (a message larger than one chunk goes as
    /// several frames, and another thread's chunks between them would make the client take the server for a broken peer
    /// and close the connection under every call on it) and in order (a pending deferred message waits in the reader
    /// thread's queue, and a write from another thread would overtake it).
    /// </summary>
    private static Task WriteInProgress() => Task.FromException(new InvalidOperationException("Can't write the message because the previous write is in progress."));

    /// <summary>What a deferred write throws when the connection ended before its message went: the call is cancelled.</summary>
    private static readonly Func<Exception, Exception> s_goneBeforeSent = static reason =>
        new OperationCanceledException("The call was cancelled: the connection to its client ended before the message was sent.", reason);

    /// <summary>
    /// How many writes an inline handler makes on its connection's reader thread before it lets the reader poll once. A
    /// handler streaming a burst there holds the reader: until it yields, no frame of the connection is read, not even
    /// the client's Cancel of this very call (so a cancelled endless stream would never end) or another call's request.
    /// </summary>
    private const int WritesPerYield = 64;

    /// <summary>
    /// The handler continues after the reader's next poll (<see cref="CallConnection.WakeAfterBatch"/>), inline on the reader
    /// thread: a Cancel read meanwhile ends the next write. One task per <see cref="WritesPerYield"/> writes.
    /// </summary>
    private Task YieldToReader()
    {
        _writesSinceYield = 0;
        var resume = new TaskCompletionSource(); // completed on the reader thread, which runs the handler's continuation
        _resumeAfterPoll = resume;
        Connection.WakeAfterBatch(this);
        return resume.Task;
    }
}
