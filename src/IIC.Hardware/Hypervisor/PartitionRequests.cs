using IIC.Native;

namespace IIC.Hardware;

/// <summary>A request to the hypervisor and its answer: sent with its id, completed by whoever reads the answer, failed by its token, timeout or the hypervisor's loss.</summary>
public sealed partial class Partition
{
    private Reply Request<TState>(ControlMessageType type, TState state, ControlBody<TState> body, Deadline deadline, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfLost();
        cancellationToken.ThrowIfCancellationRequested();
        var (id, pending) = Enter(asynchronous: false); // this thread's reused slot: no completion, task or reply allocated
        var cancellation = default(CancellationTokenRegistration);
        try
        {
            if (!pending.IsCompleted)
            {
                SendRequest(type, id, state, body); // never blocks: waits in the send queue while the hypervisor does not read
            }
            if (cancellationToken.CanBeCanceled)
            {
                // Registered after the request went out, so the Cancel follows it on the socket (a token cancelled
                // meanwhile runs this at once). A grant that crossed the Cancel finds no request and is released.
                cancellation = RegisterCancel(id, cancellationToken);
            }
            // This thread reads the answer itself when no other caller is reading (PartitionReading.cs).
            var read = ReadUntil(static pending => pending.IsCompleted, pending, deadline, RequestSpinTicks);
            if (read == CallerRead.TimedOut || (read == CallerRead.NotReader && !pending.Wait(deadline)))
            {
                throw RequestTimedOut(type, id);
            }
            var (partitionId, peerProcessId, connection) = pending.TakeResult(); // throws the failure, if it failed
            return new Reply(partitionId, peerProcessId, connection);
        }
        finally
        {
            cancellation.Dispose();
            lock (_requestsLock)
            {
                _requests.Remove(id);
            }
            WithdrawQueued(id); // a request that ended before the hypervisor took it is never sent (no lock when nothing waits)
            pending.Finish()?.Dispose(); // a grant that arrived as this request gave up: nobody else will release it
        }
    }

    /// <summary>
    /// The asynchronous <see cref="Request"/>: sends the request and awaits its answer without a thread. The partition's
    /// background reader (or a caller reading the socket for its own answer meanwhile: PartitionReading.cs) completes
    /// it; nothing here reads the socket or waits for a thread that does. The same promises as the synchronous one: the
    /// deadline bounds the wait, the token fails it and tells the hypervisor to forget it, the hypervisor's loss and
    /// Dispose fail it, and a grant that arrives as it gives up is released.
    /// </summary>
    private async Task<Reply> RequestAsync<TState>(ControlMessageType type, TState state, ControlBody<TState> body, Deadline deadline, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ThrowIfLost();
        cancellationToken.ThrowIfCancellationRequested();
        var (id, pending) = Enter(asynchronous: true); // a slot of its own: this thread may make other requests while it waits
        var cancellation = default(CancellationTokenRegistration);
        try
        {
            if (!pending.IsCompleted)
            {
                SendRequest(type, id, state, body); // never blocks: waits in the send queue while the hypervisor does not read
            }
            if (cancellationToken.CanBeCanceled)
            {
                cancellation = RegisterCancel(id, cancellationToken); // after the send, as in Request
            }
            var completion = pending.Completion!;
            while (!completion.IsCompleted)
            {
                var remaining = deadline.Remaining;
                if (remaining == TimeSpan.Zero)
                {
                    throw RequestTimedOut(type, id);
                }
                // WaitAsync takes at most ~49.7 days: a longer (or no) deadline waits in slices, as PendingRequest.Wait does.
                // Not the token: its registration fails the request (and tells the hypervisor), which completes this.
                await completion.WaitAsync(remaining == Timeout.InfiniteTimeSpan || remaining > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : remaining, CancellationToken.None)
                    .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            var (partitionId, peerProcessId, connection) = pending.TakeResult(); // throws the failure, if it failed
            return new Reply(partitionId, peerProcessId, connection);
        }
        finally
        {
            cancellation.Dispose(); // waits for a cancel callback running now (it sends Cancel and returns)
            lock (_requestsLock)
            {
                _requests.Remove(id);
            }
            WithdrawQueued(id); // as in Request
            pending.Finish()?.Dispose(); // a grant that arrived as this request timed out: nobody else will release it
        }
    }

    /// <summary>
    /// Takes the next request id and enters a slot for it among the waiting requests (this thread's reused one for a
    /// synchronous request, a new one for an asynchronous one). A request that enters as Dispose or the hypervisor's
    /// loss fails the waiting ones is failed here: each of them sets its flag before it takes <c>_requestsLock</c>, and
    /// the slot is entered under it, so either they see the slot or this sees the flag.
    /// </summary>
    private (uint Id, PendingRequest Pending) Enter(bool asynchronous)
    {
        var id = (uint)Interlocked.Increment(ref _nextRequestId);
        if (id == 0)
        {
            id = (uint)Interlocked.Increment(ref _nextRequestId); // 0 means "no request" to a PendingRequest (and in notifications)
        }
        var pending = asynchronous ? PendingRequest.StartAsync(id) : PendingRequest.Start(id);
        lock (_requestsLock)
        {
            _requests[id] = pending;
        }
        if (_disposed != 0)
        {
            FailRequest(id, DisposedDuringRequest());
        }
        else if (_lostReason is { } lost)
        {
            FailRequest(id, new HypervisorException($"Hypervisor '{HypervisorName}' is gone: {lost}. Existing connections keep working; restart the hypervisor and attach again for new ones."));
        }
        return (id, pending);
    }

    /// <summary>
    /// Dispose fails the requests that still wait (with the open grants' control socket left open, they would
    /// otherwise wait on, and a connect be granted to a disposed partition) and tells the hypervisor to forget its
    /// waiting connects (Cancel; ignored for a request that no longer waits, or is not a Connect).
    /// </summary>
    private void FailWaitingRequestsOnDispose()
    {
        KeyValuePair<uint, PendingRequest>[] waiting;
        lock (_requestsLock)
        {
            if (_requests.Count == 0)
            {
                return;
            }
            waiting = [.. _requests];
            _requests.Clear();
        }
        foreach (var (id, request) in waiting)
        {
            if (request.TryFail(id, DisposedDuringRequest()) && !WithdrawQueued(id) && _lostReason is null && Volatile.Read(ref _controlClosed) == 0)
            {
                TrySend(ControlMessageType.Cancel, id, 0, static (ref ControlWriter _, int _) => { }); // never blocks (queued while the hypervisor does not read)
            }
        }
        KickReadingCaller(); // a caller reading the socket for its answer looks again
    }

    private ObjectDisposedException DisposedDuringRequest()
        => new(nameof(Partition), $"Partition '{Name}' was disposed while its request to hypervisor '{HypervisorName}' waited for the answer.");

    /// <summary>A method of its own so that the closure is made only for a cancellable token (not hoisted into every request).</summary>
    private CancellationTokenRegistration RegisterCancel(uint id, CancellationToken cancellationToken)
        => cancellationToken.UnsafeRegister((_, token) => CancelRequest(id, token), null);

    /// <summary>A caller gave up on request <paramref name="id"/>: fail it as cancelled and tell the hypervisor to forget it.</summary>
    private void CancelRequest(uint id, CancellationToken token)
    {
        if (!FailRequest(id, new OperationCanceledException(token)))
        {
            return; // answered first
        }
        // A request the hypervisor never took (its message still waited to be sent) is withdrawn: nothing to cancel.
        if (!WithdrawQueued(id) && _lostReason is null && Volatile.Read(ref _controlClosed) == 0)
        {
            TrySend(ControlMessageType.Cancel, id, 0, static (ref ControlWriter _, int _) => { }); // the request id says which
        }
        KickReadingCaller(); // a caller reading the socket for this answer looks again
    }

    /// <summary>Takes request <paramref name="requestId"/> out of the waiting ones (an answer is for it alone).</summary>
    private bool TryTakeRequest(uint requestId, out PendingRequest pending)
    {
        lock (_requestsLock)
        {
            return _requests.Remove(requestId, out pending!);
        }
    }

    /// <summary>Fails request <paramref name="requestId"/> if it still waits; false if it was answered or ended first.</summary>
    private bool FailRequest(uint requestId, Exception error) => TryTakeRequest(requestId, out var pending) && pending.TryFail(requestId, error);

    /// <summary>Completes request <paramref name="requestId"/> with its answer; false if it no longer waits (the caller disposes a connection it carried).</summary>
    private bool Complete(uint requestId, uint partitionId = 0, int peerProcessId = 0, GrantedConnection? connection = null)
        => TryTakeRequest(requestId, out var pending) && pending.TryComplete(requestId, partitionId, peerProcessId, connection);

    /// <summary>What a request's answer carried (the fields its type has).</summary>
    private readonly record struct Reply(uint PartitionId, int PeerProcessId, GrantedConnection? Connection);
}
