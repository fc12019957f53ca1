using System.Threading.Tasks.Sources;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// One sender's asynchronous wait for room in its peer's full ring (a duplex pipe's send loop, or an
/// <see cref="IicStream"/>'s WriteAsync): it awaits this instead of blocking a thread, and <see cref="RoomWaiter"/>'s
/// thread completes it when the peer's reader returns space (the ring's "room armed" wake), when the channel ends, or when
/// the owner's stop token or the wait's own token is cancelled. One instance per sender, reused for every stall (no
/// allocation per wait); the continuation runs on the thread pool (a hop only when the ring was full).
/// </summary>
internal sealed class RoomWait : IValueTaskSource
{
    private readonly CancellationToken _stop;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _waiting;
    private CancellationToken _waitToken; // this wait's own token (IicStream.WriteAsync's); none for a pipe's send loop
    private CancellationTokenRegistration _waitRegistration;

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

    /// <summary>Whether the owner stopped sending or the wait's own token was cancelled (the waiter then completes the wait with cancellation).</summary>
    public bool StopRequested => _stop.IsCancellationRequested || _waitToken.IsCancellationRequested;

    /// <summary>The cancellation that ended the wait, for the waiter to complete it with (the wait's own token when that was it).</summary>
    public OperationCanceledException Cancellation() => _waitToken.IsCancellationRequested
        ? new OperationCanceledException("The write was cancelled while the peer's ring was full; nothing of the rest was sent.", _waitToken)
        : new OperationCanceledException("The pipe stopped sending while the peer's ring was full.", _stop);

    /// <summary>
    /// Completes at once when a record of <paramref name="payloadLength"/> fits now or the channel ended (the next send
    /// then says how); otherwise a pending wait that completes when it fits. One wait at a time (the owner's one sender).
    /// </summary>
    /// <exception cref="OperationCanceledException">The owner's stop token or <paramref name="cancellationToken"/> was cancelled (also through the returned task).</exception>
    /// <exception cref="IIC.Hardware.RingFaultException">The peer's shared head is corrupt.</exception>
    /// <exception cref="InvalidOperationException">Another wait is pending on this instance.</exception>
    public ValueTask WaitAsync(int payloadLength, CancellationToken cancellationToken = default)
    {
        _stop.ThrowIfCancellationRequested();
        cancellationToken.ThrowIfCancellationRequested();
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
        _waitToken = cancellationToken;
        // A cancellation wakes the waiter thread, which completes this wait with it (registered per wait: only stalls pay).
        _waitRegistration = cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static _ => RoomWaiter.Wake(), null) : default;
        RoomWaiter.Register(this);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>Ends the wait (on the waiter thread): disarms the ring and resumes the send loop, with <paramref name="error"/> if any.</summary>
    public void Complete(Exception? error)
    {
        Endpoint.DisarmRoomWait();
        // Not waited for: a callback running now only wakes the waiter thread, which finds nothing of this wait left.
        _waitRegistration.Unregister();
        _waitToken = default;
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
