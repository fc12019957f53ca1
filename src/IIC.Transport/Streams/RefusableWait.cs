using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace IIC.Transport;

/// <summary>
/// A byte-stream adapter's pending write or flush (waiting for room in the peer's full ring), handed to the application
/// as this reusable source instead of the inner operation, so that a reset at a refused message can fail it at once,
/// before the read that reports the refusal returns (<see cref="Fail"/>), rather than when the inner operation notices
/// (a moment later, after the <see cref="RoomWaiter"/> thread and the thread pool). Otherwise it completes as the inner
/// operation does, on the thread that completed it (no extra hop). One pending operation at a time (the adapter's one
/// writer); nothing allocated per wait.
/// </summary>
internal sealed class RefusableWait<TResult> : IValueTaskSource<TResult>, IValueTaskSource
{
    private readonly Func<Exception?> _reset; // the owner's reset, null before it
    private readonly Func<bool>? _resetCompletes; // true: a reset completes the wait with _endedResult instead of failing it
    private readonly TResult _endedResult;
    private readonly Action _onInnerCompleted;
    private ManualResetValueTaskSourceCore<TResult> _core;
    private ConfiguredValueTaskAwaitable<TResult>.ConfiguredValueTaskAwaiter _inner;
    private int _waiting; // 1 while the application awaits _core; whoever takes it to 0 (the inner operation or Fail) completes _core

    /// <summary>
    /// A wait whose owner reports its reset through <paramref name="reset"/> (read after each wait is armed); when
    /// <paramref name="resetCompletes"/> returns true (read at the reset), the reset completes the wait with
    /// <paramref name="endedResult"/> instead of failing it (a Kestrel connection's flush returns IsCompleted, as over
    /// its socket transport).
    /// </summary>
    public RefusableWait(Func<Exception?> reset, Func<bool>? resetCompletes = null, TResult endedResult = default!)
    {
        _reset = reset;
        _resetCompletes = resetCompletes;
        _endedResult = endedResult;
        _onInnerCompleted = OnInnerCompleted;
    }

    /// <summary>Hands out <paramref name="pending"/> (not completed) as this source's; returns the token for the ValueTask.</summary>
    public short Track(ValueTask<TResult> pending)
    {
        _core.Reset();
        _core.RunContinuationsAsynchronously = false; // resumed where the inner operation completes, as it would have been
        _inner = pending.ConfigureAwait(false).GetAwaiter();
        var version = _core.Version;
        Interlocked.Exchange(ref _waiting, 1); // full fence: either Fail sees this wait, or the check below sees the reset
        if (_reset() is { } reset)
        {
            Fail(reset);
        }
        _inner.UnsafeOnCompleted(_onInnerCompleted);
        return version;
    }

    /// <summary>
    /// The owner's reset, after it made <c>reset</c> return <paramref name="error"/>: a pending operation fails with it now,
    /// its continuation queued to the thread pool (the resetting thread is the reader's, which must not run writer code).
    /// </summary>
    public void Fail(Exception error)
    {
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _core.RunContinuationsAsynchronously = true;
            if (_resetCompletes?.Invoke() == true)
            {
                _core.SetResult(_endedResult);
            }
            else
            {
                _core.SetException(error);
            }
        }
    }

    private void OnInnerCompleted()
    {
        TResult result = default!;
        Exception? error = null;
        try
        {
            result = _inner.GetResult(); // exactly once: it releases the inner operation
        }
#pragma warning disable CA1031 // handed to the application's operation, whatever it is
        catch (Exception e)
        {
            error = e;
        }
#pragma warning restore CA1031
        _inner = default;
        if (Interlocked.Exchange(ref _waiting, 0) == 0)
        {
            return; // Fail ended the application's operation already
        }
        if (error is null)
        {
            _core.SetResult(result);
        }
        else
        {
            _core.SetException(error);
        }
    }

    TResult IValueTaskSource<TResult>.GetResult(short token) => _core.GetResult(token);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<TResult>.GetStatus(short token) => _core.GetStatus(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<TResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
