using System.Threading.Tasks.Sources;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The reusable awaitable behind a channel's async receive: one outstanding wait at a time, completed by an
/// <see cref="InterruptDispatcher"/> thread when the channel's ring has data or the channel ends.
/// No allocation per wait (a cancellable token costs one registration).
/// <para>Where the continuation runs, as Kestrel's socket transport decides it (UnsafePreferInlineScheduling): by
/// default it is queued to the thread pool (RunContinuationsAsynchronously), so user code never runs on the dispatcher;
/// with inline completions (<see cref="ChannelOptions.UnsafePreferInlineCompletions"/>) it runs on the thread that completes the wait (the dispatcher, or a
/// canceller), which saves the pool hop when the continuation is short or hands off itself. A captured
/// SynchronizationContext or TaskScheduler is honoured either way (ManualResetValueTaskSourceCore posts to it).</para>
/// </summary>
internal sealed class AsyncReceiveSource : IValueTaskSource, IDisposable
{
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Completed = 2;

    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _cancellation;
    private int _state;
    private int _disposed;

    /// <param name="endpoint">The channel's endpoint.</param>
    /// <param name="inlineCompletions">Run continuations on the completing thread (see the class remarks).</param>
    public AsyncReceiveSource(WindowEndpoint endpoint, bool inlineCompletions = false)
    {
        Endpoint = endpoint;
        InlineCompletions = inlineCompletions;
        _core = new() { RunContinuationsAsynchronously = !inlineCompletions };
        SpinCeilingTicks = InterruptDispatcher.SpinCeilingOf(endpoint.Waiter.Strategy);
    }

    public WindowEndpoint Endpoint { get; }

    /// <summary>Whether continuations run on the completing thread instead of the thread pool.</summary>
    public bool InlineCompletions { get; }

    /// <summary>The most this receiver's wait strategy lets a dispatcher poll for it, in Stopwatch ticks.</summary>
    public long SpinCeilingTicks { get; }

    /// <summary>The dispatcher that served the last wait (a source goes back to it while it has room); null before the first.</summary>
    public InterruptDispatcher? Dispatcher { get; set; }

    /// <summary>
    /// Whether this source's dispatcher is polling right now: then a new wait is caught within a poll round, and the
    /// receiving thread (usually a pool thread, or the dispatcher itself) need not spin.
    /// </summary>
    public bool DispatcherIsPolling => Dispatcher is { State: DispatcherState.Polling };

    /// <summary>Whether the dispatcher should still wait for this source.</summary>
    public bool IsWaiting => Volatile.Read(ref _state) == Waiting;

    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (!TryStartWait(cancellationToken, out var wait))
        {
            throw new InvalidOperationException("Another asynchronous receive is already pending on this channel, which was made with ChannelOptions.SingleReader = true: await it before starting the next, or leave SingleReader false (the default), which lets concurrent receivers take turns.");
        }
        return wait;
    }

    /// <summary>Starts the wait unless another one is pending (then false: a multi-reader channel takes turns).</summary>
    public bool TryStartWait(CancellationToken cancellationToken, out ValueTask wait)
    {
        if (_disposed != 0)
        {
            throw new ObjectDisposedException(nameof(IicChannel), "The channel was disposed.");
        }
        // The core was reset when the previous wait's result was taken (GetResult), not here: a Dispose on another
        // thread may complete this wait the moment it is Waiting, and a reset after that would erase its completion.
        if (Interlocked.CompareExchange(ref _state, Waiting, Idle) != Idle) // full fence: partner of JoinGroup's check
        {
            wait = default;
            return false;
        }
        try
        {
            Endpoint.BeginAsyncWait(); // a channel group that took the channel meanwhile refuses this wait, before anything else changes
        }
        catch
        {
            Volatile.Write(ref _state, Idle);
            throw;
        }
        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((AsyncReceiveSource)state!).Complete(new OperationCanceledException(token)), this);
        }
        InterruptDispatcher.Register(this);
        wait = new ValueTask(this, _core.Version);
        return true;
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
            // Ended by a cancel or a Dispose, not by the dispatcher: wake it so it lets go of this receiver (and its
            // window) now; it sleeps until rung, so it would otherwise hold them until the channel's next message.
            Dispatcher?.Poke();
        }
    }

    public void GetResult(short token)
    {
        if (token != _core.Version)
        {
            _core.GetResult(token); // throws InvalidOperationException (the ValueTask was awaited twice): touches nothing
            return;
        }
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _cancellation.Dispose();
            _cancellation = default;
            _core.Reset(); // ready for the next wait before anyone can start it (state Idle below is the release)
            Volatile.Write(ref _state, Idle);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        // The exception is made only for a receive that waits (Complete takes only a Waiting state): closing a
        // channel with no async receive pending allocates nothing here.
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && Volatile.Read(ref _state) == Waiting)
        {
            Complete(new ObjectDisposedException(nameof(IicChannel), "The channel was disposed while a receive was waiting."));
        }
    }
}
