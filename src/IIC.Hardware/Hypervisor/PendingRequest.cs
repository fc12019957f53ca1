using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// One request's wait for the hypervisor's answer, reused: each thread keeps one for its next request (a thread has
/// at most one request waiting: Request is synchronous, and nothing it dispatches while it reads makes another),
/// so a request allocates no completion, task or reply object. Whoever reads the answer completes it under its lock,
/// and only for the request it waits for now (<see cref="RequestId"/>): an answer that arrives after its request
/// gave up (timed out, cancelled) finds another id, or none, and is refused, so the caller disposes a grant it
/// carried instead of handing it to the wrong request. A request that is not the socket's reader sleeps on the
/// monitor; the reader pulses it.
/// <para>An asynchronous request (<c>ConnectAsync</c>, <c>AttachAsync</c>) has one of its own (<see cref="StartAsync"/>), never reused: the
/// answer also completes its <see cref="Completion"/>, whose continuations run on the pool (never on the thread that
/// read the answer), and no thread waits for it meanwhile.</para>
/// </summary>
internal sealed class PendingRequest
{
    [ThreadStatic]
    private static PendingRequest? t_cached;

    private readonly object _gate = new(); // Monitor.Wait/Pulse need a monitor, not a System.Threading.Lock
    private uint _requestId; // the request this waits for now; 0 between requests
    private bool _completed;
    private bool _taken; // the requester took the answer (its connection is the caller's now)
    private uint _partitionId;
    private int _peerProcessId;
    private GrantedConnection? _connection;
    private Exception? _error;
    private readonly TaskCompletionSource? _completion; // an asynchronous request's: completed together with the slot

    /// <summary>The request it waits for now (0 between requests): the key the reader completes it by.</summary>
    public uint RequestId => Volatile.Read(ref _requestId);

    /// <summary>Whether the answer (or a failure) is there.</summary>
    public bool IsCompleted => Volatile.Read(ref _completed);

    private PendingRequest(TaskCompletionSource? completion = null) => _completion = completion;

    /// <summary>An asynchronous request's completion (completed, never faulted, when the answer or a failure is there); null for a synchronous one.</summary>
    public Task? Completion => _completion?.Task;

    /// <summary>
    /// A slot of its own for asynchronous request <paramref name="requestId"/> (it may wait while this thread makes
    /// others): its <see cref="Completion"/> runs continuations asynchronously, so whoever completes it (the partition's
    /// reader, a caller reading for its own answer, the token's callback, Dispose) never runs the requester's code.
    /// </summary>
    public static PendingRequest StartAsync(uint requestId) => new(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)) { _requestId = requestId };

    /// <summary>This thread's slot, ready for request <paramref name="requestId"/>.</summary>
    public static PendingRequest Start(uint requestId)
    {
        var slot = t_cached;
        if (slot is null || slot.RequestId != 0)
        {
            slot = new PendingRequest(); // the first on this thread (or one still in use, which cannot happen today)
            t_cached = slot;
        }
        lock (slot._gate)
        {
            slot._requestId = requestId;
            slot._completed = false;
            slot._taken = false;
            slot._partitionId = 0;
            slot._peerProcessId = 0;
            slot._connection = null;
            slot._error = null;
        }
        return slot;
    }

    /// <summary>Completes request <paramref name="requestId"/> with its answer; false if this slot no longer waits for it (or was completed).</summary>
    public bool TryComplete(uint requestId, uint partitionId = 0, int peerProcessId = 0, GrantedConnection? connection = null)
    {
        lock (_gate)
        {
            if (_requestId != requestId || _completed)
            {
                return false;
            }
            _partitionId = partitionId;
            _peerProcessId = peerProcessId;
            _connection = connection;
            Volatile.Write(ref _completed, true);
            Monitor.PulseAll(_gate);
            _completion?.TrySetResult(); // queues the requester's continuation: runs none here
            return true;
        }
    }

    /// <summary>Fails request <paramref name="requestId"/>; false if this slot no longer waits for it (or was completed).</summary>
    public bool TryFail(uint requestId, Exception error)
    {
        lock (_gate)
        {
            if (_requestId != requestId || _completed)
            {
                return false;
            }
            _error = error;
            Volatile.Write(ref _completed, true);
            Monitor.PulseAll(_gate);
            _completion?.TrySetResult(); // queues the requester's continuation: runs none here
            return true;
        }
    }

    /// <summary>Waits for the answer until the deadline (a request that is not the socket's reader); false when it passed first.</summary>
    public bool Wait(Deadline deadline)
    {
        lock (_gate)
        {
            while (!_completed)
            {
                var remaining = deadline.Remaining;
                if (remaining == TimeSpan.Zero)
                {
                    return false;
                }
                Monitor.Wait(_gate, remaining == Timeout.InfiniteTimeSpan || remaining > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : remaining);
            }
            return true;
        }
    }

    /// <summary>The answer (the requester's: a connection it carries is the caller's to dispose); throws the failure.</summary>
    public (uint PartitionId, int PeerProcessId, GrantedConnection? Connection) TakeResult()
    {
        lock (_gate)
        {
            if (_error is { } error)
            {
                throw error;
            }
            _taken = true;
            return (_partitionId, _peerProcessId, _connection);
        }
    }

    /// <summary>
    /// Ends the request: from now on no answer completes this slot, and it is free for the thread's next request.
    /// Returns a connection that was granted but not taken (the request gave up just as it arrived): the caller disposes it.
    /// </summary>
    public GrantedConnection? Finish()
    {
        lock (_gate)
        {
            var orphan = _completed && !_taken ? _connection : null;
            _requestId = 0;
            _connection = null;
            _error = null;
            return orphan;
        }
    }
}
