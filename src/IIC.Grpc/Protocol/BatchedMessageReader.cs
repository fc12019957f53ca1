using System.Runtime.CompilerServices;
using Grpc.Core;

namespace IIC.Grpc.Protocol;

/// <summary>
/// The receiving end of one streaming direction of one call (a client's responses, a server's requests): the queue the
/// connection's reader thread fills with deserialized messages (<see cref="StreamBuffer{T}"/>) and the application's
/// <c>MoveNext</c> that takes from it, waiting when it is empty for the reader thread to wake it once per poll batch
/// (<see cref="CallConnection.WakeAfterBatch"/>, through the call's <see cref="IBatchWake"/>). How the stream ends
/// and what a failure does differ between the sides: the call says so through <see cref="IBatchedMessageReaderOwner"/>.
/// Every use of the queue and of the waiter is under <see cref="Gate"/>, which is also the lock of the call's own state
/// that the hooks read (the client's whole call: its gate).
/// </summary>
internal sealed class BatchedMessageReader<T>
    where T : class
{
    private static readonly Task<bool> s_true = Task.FromResult(true);
    private static readonly Task<bool> s_false = Task.FromResult(false);

    private readonly StreamBuffer<T> _queue = new(); // the messages, deserialized by the reader thread; also the lock
    private readonly IBatchedMessageReaderOwner _owner;
    private readonly bool _inline;
    private MoveNextWait? _moveNextWaiter; // a MoveNext waiting for a message (under the lock)
    private CancellationTokenRegistration _moveNextCancellation; // its token's registration (under the lock)
    private bool _wakeListed; // the reader thread will wake the waiting MoveNext at its batch's end (reader thread only)

    /// <param name="owner">The call: how the stream ends, what a broken message and a cancelled token do.</param>
    /// <param name="inline">
    /// Whether a woken MoveNext's continuation runs on the waking thread (the reader thread at a batch's end): the
    /// client's <c>InlineCompletions</c>, an inline server handler. Otherwise it is queued to the thread pool.
    /// </param>
    public BatchedMessageReader(IBatchedMessageReaderOwner owner, bool inline)
    {
        _owner = owner;
        _inline = inline;
    }

    /// <summary>
    /// What every use of the reader locks: its queue, made with it and never seen by the application (who could otherwise
    /// lock it too), so its call needs no lock object of its own and locks this one for its stream state too.
    /// </summary>
    public object Gate => _queue;

    /// <summary>The message the last MoveNext that returned true took.</summary>
    public T Current { get; private set; } = default!;

    /// <summary>
    /// Under <see cref="Gate"/> (reader thread): queues <paramref name="entry"/>; true when a waiting MoveNext is to be
    /// woken (<see cref="Wake"/>, after the lock is released), at most once per batch. <paramref name="now"/>:
    /// <see cref="CallConnection.WakeNow"/>, read before the lock was taken.
    /// </summary>
    public bool Enqueue(in StreamEntry<T> entry, bool now)
    {
        _queue.Enqueue(entry);
        var wake = _moveNextWaiter is not null && !_wakeListed;
        _wakeListed |= wake && !now;
        return wake;
    }

    /// <summary>
    /// Reader thread, outside the lock, after <see cref="Enqueue"/> returned true: wakes the waiting MoveNext now
    /// (<paramref name="now"/>) or has <paramref name="connection"/> call <paramref name="call"/>'s
    /// <see cref="IBatchWake.OnBatchEnd"/> at the end of the poll batch.
    /// </summary>
    public void Wake(bool now, CallConnection connection, IBatchWake call)
    {
        if (now)
        {
            WakeMoveNext();
        }
        else
        {
            connection.WakeAfterBatch(call);
        }
    }

    /// <summary>The call's <see cref="IBatchWake.OnBatchEnd"/> began (reader thread): the next message may list a wake again.</summary>
    public void OnBatchEnd() => _wakeListed = false;

    /// <summary>Under <see cref="Gate"/>: drops every queued message (the call ended here: nobody reads them).</summary>
    public void Clear() => _queue.Clear();

    /// <summary>
    /// The next message: taken from the queue the reader thread fills (already deserialized) without waiting while
    /// there is one; else a task the reader thread completes at the end of the poll batch that brought the next ones
    /// (<see cref="WakeMoveNext"/>), so a reader keeping up with a burst waits once per batch, not once per message.
    /// Waiting is the only allocation here: <see cref="IAsyncStreamReader{T}.MoveNext"/> returns a <see cref="Task{TResult}"/>,
    /// which cannot be reused, so each wait makes one (<see cref="MoveNextWait"/>: inline, the task alone).
    /// </summary>
    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        MoveNextWait? waiter = null;
        bool ready;
        bool more;
        Exception? failure;
        bool broken;
        lock (_queue)
        {
            ready = TryTakeNext(out more, out failure, out broken);
            if (!ready && !cancellationToken.IsCancellationRequested)
            {
                if (_moveNextWaiter is not null)
                {
                    return Task.FromException<bool>(new InvalidOperationException("Can't read the next message because the previous read is still in progress."));
                }
                waiter = _moveNextWaiter = MoveNextWait.Create(_inline);
            }
        }
        if (ready)
        {
            return failure is null ? (more ? s_true : s_false) : Task.FromException<bool>(broken ? _owner.OnBrokenMessage((RpcException)failure) : failure);
        }
        if (waiter is null)
        {
            return _owner.OnCancelledBeforeWait(cancellationToken);
        }
        if (cancellationToken.CanBeCanceled && _owner.RegistersWaitToken(cancellationToken))
        {
            // Registered outside the lock: a token cancelled meanwhile runs the callback right here, and it resolves the
            // waiter (on the client by ending the call: Finish takes the lock and completes tasks), which must not happen
            // under the lock.
            var registration = cancellationToken.UnsafeRegister(static (state, token) => ((BatchedMessageReader<T>)state!)._owner.OnWaitCancelled(token), this);
            lock (_queue)
            {
                if (_moveNextWaiter is { } current && ReferenceEquals(current.Task, waiter.Value.Task))
                {
                    _moveNextCancellation = registration;
                    registration = default;
                }
            }
            registration.Unregister(); // the wait already ended: its registration is not needed
        }
        return waiter.Value.Task;
    }

    /// <summary>
    /// Under the lock: what MoveNext gives now, if it need not wait: the next message (into <see cref="Current"/>), the
    /// end of the stream (<see cref="IBatchedMessageReaderOwner.TryEnd"/>: null, or what MoveNext throws), or a
    /// message that failed to deserialize (<paramref name="broken"/>: the application gets the RpcException here, in
    /// order, after the owner's <see cref="IBatchedMessageReaderOwner.OnBrokenMessage"/>). False when nothing is there yet.
    /// </summary>
    private bool TryTakeNext(out bool more, out Exception? failure, out bool broken)
    {
        more = false;
        failure = null;
        broken = false;
        if (_queue.TryDequeue(out var entry))
        {
            if (entry.Failure is { } error)
            {
                failure = error;
                broken = true;
                return true;
            }
            Current = entry.Message!;
            more = true;
            return true;
        }
        return _owner.TryEnd(out failure);
    }

    /// <summary>
    /// Resolves a waiting MoveNext with what is there now (nothing yet: it keeps waiting). Called by the reader thread at
    /// the end of a batch that queued messages and by the end of the stream (any thread). With inline completions the
    /// awaiting code runs here, on the calling thread: at a batch's end it then takes every message of the batch
    /// before it waits again.
    /// </summary>
    public void WakeMoveNext()
    {
        MoveNextWait waiter;
        bool more;
        Exception? failure;
        bool broken;
        CancellationTokenRegistration registration;
        lock (_queue)
        {
            if (_moveNextWaiter is null || !TryTakeNext(out more, out failure, out broken))
            {
                return;
            }
            waiter = _moveNextWaiter.Value;
            _moveNextWaiter = null;
            registration = _moveNextCancellation;
            _moveNextCancellation = default;
        }
        registration.Unregister(); // does not wait for a callback running now (that may be what called this)
        if (failure is null)
        {
            waiter.SetResult(more);
            return;
        }
        waiter.SetException(broken ? _owner.OnBrokenMessage((RpcException)failure) : failure);
    }

    /// <summary>MoveNext's own token fired while it waited: the wait ends cancelled (the stream goes on).</summary>
    public void CancelMoveNext(CancellationToken token)
    {
        MoveNextWait? waiter;
        lock (_queue)
        {
            waiter = _moveNextWaiter;
            _moveNextWaiter = null;
            _moveNextCancellation = default;
        }
        waiter?.SetCanceled(token);
    }

    /// <summary>
    /// The task a waiting MoveNext returned and what completes it (once, by whoever took it out of
    /// <see cref="_moveNextWaiter"/> under the lock). Inline, the task alone (a promise from
    /// <see cref="AsyncTaskMethodBuilder{TResult}"/>, whose continuations run on the completing thread, as wanted): 72 B a
    /// wait. Otherwise a <see cref="TaskCompletionSource{TResult}"/> with
    /// <see cref="TaskCreationOptions.RunContinuationsAsynchronously"/>, which only a source can ask for (24 B more). No
    /// wait can reuse its task: <see cref="IAsyncStreamReader{T}.MoveNext"/> returns a <see cref="Task{TResult}"/>, which
    /// cannot be reset (a reusable <c>IValueTaskSource</c> would need a <c>ValueTask</c>).
    /// </summary>
    private readonly struct MoveNextWait
    {
        private readonly TaskCompletionSource<bool>? _source;
        private readonly AsyncTaskMethodBuilder<bool> _promise; // holds only the task (copies complete the same one)

        private MoveNextWait(TaskCompletionSource<bool>? source, AsyncTaskMethodBuilder<bool> promise, Task<bool> task)
        {
            _source = source;
            _promise = promise;
            Task = task;
        }

        public Task<bool> Task { get; }

        public static MoveNextWait Create(bool inline)
        {
            if (!inline)
            {
                var source = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                return new MoveNextWait(source, default, source.Task);
            }
            var promise = AsyncTaskMethodBuilder<bool>.Create();
            var task = promise.Task; // made now, kept by the builder: SetResult on any copy completes it
            return new MoveNextWait(null, promise, task);
        }

        public void SetResult(bool value)
        {
            if (_source is not null)
            {
                _source.TrySetResult(value);
                return;
            }
            _promise.SetResult(value);
        }

        public void SetException(Exception exception)
        {
            if (_source is not null)
            {
                _source.TrySetException(exception);
                return;
            }
            _promise.SetException(exception);
        }

        /// <summary>Cancelled with <paramref name="token"/> (the builder turns an OperationCanceledException into that).</summary>
        public void SetCanceled(CancellationToken token)
        {
            if (_source is not null)
            {
                _source.TrySetCanceled(token);
                return;
            }
            _promise.SetException(new OperationCanceledException(token));
        }
    }
}
