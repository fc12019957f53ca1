using Grpc.Core;

namespace IIC.Grpc.Client;

// ClientCall, waiting for its connection (docs/grpc-call-protocol.md 1): the invoker's slot had no open connection, so
// the call was made without one while the slot's connect, shared by every call that needs it, runs on the pool. The call
// waits as a call queued for a slot does (ClientCall.Queue.cs: its start state, its writes and complete gated), and its
// token, deadline and Dispose end it meanwhile, with nothing sent.
internal sealed partial class ClientCall<TRequest, TResponse>
{
    /// <summary>
    /// Goes on once <paramref name="connecting"/> completes: on the connection it made, as a queued call granted a slot
    /// (<see cref="ClientCallBase.StartQueued"/>) or queued for one; ended <c>Unavailable</c> when the connect failed.
    /// Its start state (<see cref="_queued"/>) is set before. Never waits; the continuation runs on the connecting thread
    /// (or here, when the connect is already over) and only registers the call.
    /// </summary>
    private void WaitForConnection(Task<IicCallInvoker.ConnectResult> connecting)
        => connecting.ContinueWith(static (task, state) => ((ClientCall<TRequest, TResponse>)state!).OnConnectedOrFail(task.Result), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>A continuation nobody observes: whatever goes wrong ends this call (Internal), not silently, not the process.</summary>
    private void OnConnectedOrFail(IicCallInvoker.ConnectResult result)
    {
        try
        {
            OnConnected(result);
        }
#pragma warning disable CA1031 // see the summary
        catch (Exception e)
        {
            CompleteLocally(new Status(StatusCode.Internal, "Starting the call failed: " + e.Message, e));
            _queued!.Started.TrySetResult();
        }
#pragma warning restore CA1031
    }

    /// <summary>
    /// Registered on another connection of the pool than the one it had (under the pool's lock, before its start): a
    /// <see cref="Finish"/> that fails to take it out of the pool's queue (it was granted meanwhile) reads this one after.
    /// </summary>
    public override void MoveTo(ClientConnection connection) => Volatile.Write(ref _connection, connection);

    private void OnConnected(IicCallInvoker.ConnectResult result)
    {
        if (result.Connection is not { } connection)
        {
            if (_queued!.WaitForReady)
            {
                ConnectAgainLater(result.Invoker); // WaitForReady: until its deadline, token or Dispose
                return;
            }
            Finish(result.Failure, new Metadata(), local: true); // a no-op when the call ended first; opens the start gate
            return;
        }
        _queued!.FailedConnects = 0;
        Register(connection);
    }

    /// <summary>
    /// Registers the call, which waited (for a connect, or to start again) and sent nothing yet, on <paramref name="connection"/>:
    /// started when a slot is free, else queued for one; when the connection ended or drained meanwhile, it starts again on
    /// another (<see cref="RetryOrFail"/>). Nothing when the call ended first.
    /// </summary>
    private void Register(ClientConnection connection)
    {
        lock (Gate)
        {
            if (_done)
            {
                return; // ended while it waited (its token, deadline, Dispose): never registered, nothing sent
            }
            // Set under the gate: a Finish after this sees the connection and takes the call out of its queue or registry.
            Volatile.Write(ref _connection, connection);
        }
        switch (connection.TryAdd(this, queue: true, out var closed))
        {
            case CallRegistry.AddResult.Added:
                StartQueued(); // RunQueuedStart: the deadline left, a call that ended meanwhile gives its slot back
                return;
            case CallRegistry.AddResult.Full:
                if (Volatile.Read(ref _done))
                {
                    // Ended between the gate and the queue (Finish found nothing to unqueue yet): out again, unless a slot was
                    // granted to it meanwhile, in which case RunQueuedStart gives it back.
                    connection.Unqueue(this);
                }
                return; // StartQueued sends it when a slot frees
            default:
                RetryOrFail(closed); // the connection ended (or drained) already: nothing was sent
                return;
        }
    }
}
