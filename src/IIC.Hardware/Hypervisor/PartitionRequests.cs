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
        var id = (uint)Interlocked.Increment(ref _nextRequestId);
        if (id == 0)
        {
            id = (uint)Interlocked.Increment(ref _nextRequestId); // 0 means "no request" to a PendingRequest (and in notifications)
        }
        var pending = PendingRequest.Start(id); // this thread's reused slot: no completion, task or reply allocated
        lock (_requestsLock)
        {
            _requests[id] = pending;
        }
        var cancellation = default(CancellationTokenRegistration);
        try
        {
            if (_lostReason is { } lost)
            {
                FailRequest(id, new HypervisorException($"Hypervisor '{HypervisorName}' is gone: {lost}. Existing connections keep working; restart the hypervisor and attach again for new ones."));
            }
            if (!TrySend(type, id, state, body))
            {
                ThrowIfLost();
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
                throw new HypervisorException($"Hypervisor '{HypervisorName}' did not answer the {type} request in time (it may be stopped or overloaded).");
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
            pending.Finish()?.Dispose(); // a grant that arrived as this request gave up: nobody else will release it
        }
    }

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
        if (_lostReason is null && Volatile.Read(ref _controlClosed) == 0)
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
