using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>
/// A call that waits for a slot on its connection (the server's limit on calls open at once, docs/grpc-call-protocol.md
/// 2.8): what its start needs, and the request stream's writes and complete made before it started.
/// </summary>
internal sealed partial class ClientCall<TRequest, TResponse>
{
    /// <summary>
    /// Set (before the call is queued) for a call that found every slot taken or waits for a connect; for one whose
    /// CallStart was deferred (on the reader thread) or queued for the sender; for one that starts again (its connection
    /// ended before it sent anything); null for every other call, so a call object carries one field for all of this.
    /// </summary>
    private QueuedStart? _queued;

    internal override LinkedListNode<ClientCallBase>? QueueNode
    {
        get => _queued?.Node;
        set => _queued!.Node = value; // only a queued call is put in the queue, and it has its start state
    }

    /// <summary>
    /// The CallStart is in the ring: a write or complete waiting for the start goes on. (A CallStart deferred on the reader
    /// thread comes here once that thread sent it, since round 23: a write from another thread must not overtake it, as
    /// the server would drop a message for a stream it does not know yet.)
    /// </summary>
    private void OpenStartGate() => _queued?.Started.TrySetResult();

    /// <summary>
    /// What a start sends, and what it needs to start again (passed by reference on the start's path, made into a
    /// <see cref="QueuedStart"/> only by a call whose CallStart cannot go at once).
    /// </summary>
    private readonly record struct StartRequest(TRequest? Request, bool SendRequest, Metadata? Headers, DateTime? Deadline, bool WaitForReady);

    /// <summary>What a queued call's start needs, kept while it waits; and the start's completion.</summary>
    private sealed class QueuedStart(TRequest? request, bool sendRequest, Metadata? headers, DateTime? deadline, bool waitForReady = false)
    {
        public QueuedStart(in StartRequest start)
            : this(start.Request, start.SendRequest, start.Headers, start.Deadline, start.WaitForReady)
        {
        }

        public TRequest? Request { get; } = request;

        public bool SendRequest { get; } = sendRequest;

        public Metadata? Headers { get; } = headers;

        /// <summary>The call's deadline (UTC), or null for none: the CallStart's timeout is what is left of it when it goes.</summary>
        public DateTime? Deadline { get; } = deadline;

        /// <summary>The call's <see cref="CallOptions.IsWaitForReady"/>: a failed connect makes it wait and connect again (ClientCall.Retry.cs).</summary>
        public bool WaitForReady { get; } = waitForReady;

        /// <summary>How many times it started again after its connection ended with nothing of it sent (ClientCall.Retry.cs). One thread at a time.</summary>
        public int TransparentRetries { get; set; }

        /// <summary>How many connects it waited for failed in a row (WaitForReady's backoff). One thread at a time.</summary>
        public int FailedConnects { get; set; }

        /// <summary>Completed once the CallStart is in the ring, or the call ended (or its start failed) before.</summary>
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The call's place in its connection's queue while it waits (<see cref="ClientCallBase.QueueNode"/>).</summary>
        public LinkedListNode<ClientCallBase>? Node { get; set; }

        /// <summary>
        /// The request stream's write or complete made before the start (under the call's gate), which runs once the call
        /// started: while it is pending, another write or complete is refused as one in progress (as grpc-dotnet refuses it).
        /// </summary>
        public Task? Pending { get; set; }
    }

    /// <summary>
    /// Whether a write or complete must wait for the call's start: the call was queued and has not started, or the write
    /// or complete made before it started is still pending.
    /// </summary>
    private bool StartGated => _queued is { } queued && (!queued.Started.Task.IsCompleted || queued.Pending is { IsCompleted: false });

    /// <summary>
    /// The call got a slot after waiting: its start runs on the thread pool (this may be the connection's reader thread,
    /// which never waits, or a thread ending another call); what cannot go at once is queued for the connection's sender
    /// (<see cref="SendStart"/>), so no thread waits for room.
    /// </summary>
    public override void StartQueued() => ThreadPool.UnsafeQueueUserWorkItem(static call => call.RunQueuedStart(), this, preferLocal: false);

    private void RunQueuedStart()
    {
        var queued = _queued!;
        _streamId = StreamId; // numbered when it got the slot, under the registry's lock (which the grant ran under)
        try
        {
            var timeoutMicroseconds = -1L;
            if (queued.Deadline is { } deadline)
            {
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    // Its timer is due: it ends the call, this never sends it.
                    CompleteLocally(new Status(StatusCode.DeadlineExceeded, ""));
                    _connection!.Remove(this); // as below: it may have ended before the grant registered it
                    _connection.Release(this);
                    queued.Started.TrySetResult();
                    return;
                }
                timeoutMicroseconds = (long)remaining.TotalMicroseconds;
            }
            if (EndedBeforeRegistered())
            {
                // Ended while it waited (its token, its deadline, Dispose) just as it got the slot: never sent. Finish
                // removed it already unless the grant registered it after; the Remove is idempotent.
                _connection!.Remove(this);
                _connection.Release(this);
                queued.Started.TrySetResult();
                return;
            }
            var start = new StartRequest(queued.Request, queued.SendRequest, queued.Headers, queued.Deadline, queued.WaitForReady);
            if (SendStart(in start, timeoutMicroseconds) is { } lost)
            {
                RetryOrFail(lost); // its connection ended before its CallStart could go: it starts again (ClientCall.Retry.cs)
            }
        }
#pragma warning disable CA1031 // A pool thread: whatever the marshaller or a broken connection throws ends this call, not the process.
        catch (Exception e)
        {
            CompleteLocally(new Status(StatusCode.Internal, "Starting the call failed: " + e.Message, e));
            if (!Volatile.Read(ref _started))
            {
                _connection!.Release(this);
            }
            queued.Started.TrySetResult();
        }
#pragma warning restore CA1031
    }

    /// <summary>
    /// Whether the call ended by the time it was registered, read after the registration (any registration made once
    /// its timers run: a grant, a second try, a connect). Read under the gate, which <see cref="Finish"/> sets
    /// <c>_done</c> under before it removes the call: either Finish's Remove comes after the registration (the lock
    /// orders them) and takes the call out, or this sees it ended and the caller takes it out. Without this, a call
    /// ended just before its registration stayed registered for good (CallLimitTests' churn, twice in CI).
    /// </summary>
    private bool EndedBeforeRegistered()
    {
        lock (Gate)
        {
            return _done;
        }
    }

    /// <summary>A write made before the queued call started: sent once it started (or fails with the call's status if it ended first).</summary>
    private Task WriteAfterStart(TRequest message)
    {
        ArgumentNullException.ThrowIfNull(message);
        ThrowIfDisposed();
        var queued = _queued!;
        lock (Gate)
        {
            if (queued.Pending is { IsCompleted: false })
            {
                return Task.FromException(new InvalidOperationException("Can't write the message because the previous write is in progress."));
            }
            if (_halfClosed)
            {
                return Task.FromException(new InvalidOperationException("Request stream has already been completed."));
            }
            var write = WriteWhenStartedAsync(message, queued.Started.Task);
            queued.Pending = write;
            return write;
        }
    }

    private async Task WriteWhenStartedAsync(TRequest message, Task started)
    {
        await started.ConfigureAwait(false);
        ThrowIfEndedBeforeStart();
        await WriteNow(message).ConfigureAwait(false);
    }

    /// <summary>A complete made before the queued call started: its HalfClose goes once the call started.</summary>
    private Task CompleteAfterStart()
    {
        ThrowIfDisposed();
        var queued = _queued!;
        lock (Gate)
        {
            if (queued.Pending is { IsCompleted: false })
            {
                return Task.FromException(new InvalidOperationException("Can't complete the request stream because the previous write is in progress."));
            }
            if (_halfClosed || _done)
            {
                return Task.CompletedTask;
            }
            var complete = CompleteWhenStartedAsync(queued.Started.Task);
            queued.Pending = complete;
            return complete;
        }
    }

    private async Task CompleteWhenStartedAsync(Task started)
    {
        await started.ConfigureAwait(false);
        await CompleteNow().ConfigureAwait(false);
    }

    /// <summary>
    /// A write waiting for the start when the call ended (its token, its deadline, Dispose, the connection): it fails with
    /// the call's status, as a write in progress does, rather than with what a write made after the end would throw.
    /// </summary>
    private void ThrowIfEndedBeforeStart()
    {
        lock (Gate)
        {
            if (_done)
            {
                throw _status.StatusCode == StatusCode.OK
                    ? new InvalidOperationException("Can't write the message because the call is complete.")
                    : new RpcException(_status, _trailers ?? []);
            }
        }
    }
}
