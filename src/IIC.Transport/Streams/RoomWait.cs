using System.Threading.Tasks.Sources;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// One pipe's asynchronous wait for room in its peer's full ring: the send loop awaits it instead of blocking the flushing
/// thread, and <see cref="RoomWaiter"/>'s thread completes it when the peer's reader returns space (the ring's "room armed"
/// wake), when the channel ends, or when the pipe's stop token is cancelled. One instance per pipe, reused for every
/// stall (no allocation per wait); the continuation runs on the thread pool (a hop only when the ring was full).
/// </summary>
internal sealed class RoomWait : IValueTaskSource
{
    private readonly CancellationToken _stop;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _waiting;

    /// <summary>A wait for <paramref name="endpoint"/>'s outgoing ring, ended by <paramref name="stop"/>.</summary>
    public RoomWait(WindowEndpoint endpoint, CancellationToken stop)
    {
        Endpoint = endpoint;
        _stop = stop;
        // Once per pipe, not per wait: a cancellation wakes the waiter thread, which completes this wait with it.
        stop.UnsafeRegister(static _ => RoomWaiter.Wake(), null);
    }

    /// <summary>The sending side whose ring is full.</summary>
    public WindowEndpoint Endpoint { get; }

    /// <summary>The record that must fit.</summary>
    public int PayloadLength { get; private set; }

    /// <summary>The word the waiter thread sleeps on (re-armed every round).</summary>
    public FutexWaitTarget Target { get; set; }

    /// <summary>Whether the pipe stopped sending (the waiter completes the wait with cancellation).</summary>
    public bool StopRequested => _stop.IsCancellationRequested;

    /// <summary>
    /// Completes at once when a record of <paramref name="payloadLength"/> fits now or the channel ended (the next send
    /// then says how); otherwise a pending wait that completes when it fits. One wait at a time (the pipe's send loop).
    /// </summary>
    /// <exception cref="OperationCanceledException">The pipe's stop token was cancelled (also through the returned task).</exception>
    /// <exception cref="IIC.Hardware.RingFaultException">The peer's shared head is corrupt.</exception>
    public ValueTask WaitAsync(int payloadLength)
    {
        _stop.ThrowIfCancellationRequested();
        if (!Endpoint.TryArmRoomWait(payloadLength, firstArm: true, out var target))
        {
            return ValueTask.CompletedTask;
        }
        if (Interlocked.Exchange(ref _waiting, 1) != 0)
        {
            Endpoint.DisarmRoomWait();
            throw new InvalidOperationException("A room wait is already pending on this pipe: only its send loop waits for room.");
        }
        _core.Reset();
        PayloadLength = payloadLength;
        Target = target;
        RoomWaiter.Register(this);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>Ends the wait (on the waiter thread): disarms the ring and resumes the send loop, with <paramref name="error"/> if any.</summary>
    public void Complete(Exception? error)
    {
        Endpoint.DisarmRoomWait();
        Volatile.Write(ref _waiting, 0);
        if (error is null)
        {
            _core.SetResult(true);
        }
        else
        {
            _core.SetException(error);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
