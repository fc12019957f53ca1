using System.Threading.Tasks.Sources;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The reusable awaitable behind a channel's async receive: one outstanding wait at a time, completed by an
/// <see cref="InterruptDispatcher"/> thread when the channel's ring has data or the channel ends.
/// No allocation per wait (a cancellable token costs one registration).
/// </summary>
internal sealed class AsyncReceiveSource : IValueTaskSource, IDisposable
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Completed = 2;

    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _cancellation;
    private int _state;
    private int _disposed;

    public AsyncReceiveSource(WindowEndpoint endpoint)
    {
        Endpoint = endpoint;
    }

    public WindowEndpoint Endpoint { get; }

    /// <summary>Whether the dispatcher should still wait for this source.</summary>
    public bool IsWaiting => Volatile.Read(ref _state) == Waiting;

    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) != Idle)
        {
            throw new InvalidOperationException("Another asynchronous receive is already pending on this channel; await it before starting the next (one receiver at a time).");
        }
        _core.Reset();
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((AsyncReceiveSource)state!).Complete(new OperationCanceledException(token)), this);
        }
        InterruptDispatcher.Register(this);
        return new ValueTask(this, _core.Version);
    }

    /// <summary>Completes the wait (from the dispatcher, a cancellation or Dispose); only the first call wins.</summary>
    public void Complete(Exception? error = null)
    {
        if (Interlocked.CompareExchange(ref _state, Completed, Waiting) != Waiting)
        {
            return;
        }
        if (error is null)
        {
            _core.SetResult(true);
        }
        else
        {
            _core.SetException(error);
        }
    }

    public void GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _cancellation.Dispose();
            _cancellation = default;
            Volatile.Write(ref _state, Idle);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Complete(new ObjectDisposedException(nameof(IicChannel), "The channel was disposed while a receive was waiting."));
        }
    }
}
