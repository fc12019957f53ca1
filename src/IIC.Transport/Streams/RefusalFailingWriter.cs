using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace IIC.Transport;

/// <summary>
/// The duplex pipe's <see cref="IicDuplexPipe.Output"/>: the output pipe's writer, except that from the moment a refused
/// message reset the connection (<see cref="IicDuplexPipe.ResetAtRefusal"/>) every flush and write fails with that
/// <see cref="ReceiveLimitExceededException"/>, and a flush the application was awaiting (the peer's ring full, over
/// <see cref="IicPipeOptions.OutputPauseThreshold"/>) is failed with it by the reset itself. So once the read (or the
/// input's Complete) that reports the refusal has returned, nothing the application does with the output succeeds. Round 21
/// left that to the send loop, which completes the output pipe only when its wait for room has ended on the
/// <see cref="RoomWaiter"/> thread and the pool: a flush made in that gap still succeeded, and a waiting one ended later.
/// <para>Costs a flush that completes at once one field read (the result passes through unchanged, nothing allocated);
/// a flush that waits goes through this reusable source (one per pipe, as PipeWriter allows one flush at a time),
/// resumed by the output pipe's writer scheduler as before: no allocation and no extra hop.</para>
/// </summary>
internal sealed class RefusalFailingWriter : PipeWriter, IValueTaskSource<FlushResult>
{
    private readonly PipeWriter _inner;
    private readonly IicDuplexPipe _pipe;
    private readonly Action _onInnerFlushed;
    private ManualResetValueTaskSourceCore<FlushResult> _core;
    private ConfiguredValueTaskAwaitable<FlushResult>.ConfiguredValueTaskAwaiter _innerFlush; // the waiting flush of the output pipe
    private int _waiting; // 1 while the application awaits _core; whoever takes it to 0 (the inner flush or the reset) completes _core

    public RefusalFailingWriter(PipeWriter inner, IicDuplexPipe pipe)
    {
        _inner = inner;
        _pipe = pipe;
        _onInnerFlushed = OnInnerFlushed;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        => _pipe.ResetBy is { } refusal ? ValueTask.FromException<FlushResult>(refusal) : Track(_inner.FlushAsync(cancellationToken));

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        => _pipe.ResetBy is { } refusal ? ValueTask.FromException<FlushResult>(refusal) : Track(_inner.WriteAsync(source, cancellationToken));

    /// <summary>A flush that completed passes through; one that waits is handed out as this source's.</summary>
    private ValueTask<FlushResult> Track(ValueTask<FlushResult> flush)
    {
        if (flush.IsCompleted)
        {
            return flush;
        }
        _core.Reset();
        _core.RunContinuationsAsynchronously = false; // resumed on the output pipe's writer scheduler, as the inner flush would be
        _innerFlush = flush.ConfigureAwait(false).GetAwaiter();
        var version = _core.Version;
        Interlocked.Exchange(ref _waiting, 1); // full fence: either the reset sees this wait, or the check below sees the reset
        if (_pipe.ResetBy is { } refusal)
        {
            FailWaitingFlush(refusal);
        }
        _innerFlush.UnsafeOnCompleted(_onInnerFlushed);
        return new ValueTask<FlushResult>(this, version);
    }

    private void OnInnerFlushed()
    {
        FlushResult result = default;
        Exception? error = null;
        try
        {
            result = _innerFlush.GetResult(); // exactly once: it releases the output pipe's flush
        }
#pragma warning disable CA1031 // handed to the application's flush, whatever it is
        catch (Exception e)
        {
            error = e;
        }
#pragma warning restore CA1031
        _innerFlush = default;
        if (Interlocked.Exchange(ref _waiting, 0) == 0)
        {
            return; // the reset failed the application's flush already
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

    /// <summary>
    /// The reset (after it set <see cref="IicDuplexPipe.ResetBy"/>): a flush the application awaits fails with
    /// <paramref name="refusal"/> now, its continuation queued to the thread pool (the resetting thread is the reader's).
    /// </summary>
    public void FailWaitingFlush(ReceiveLimitExceededException refusal)
    {
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _core.RunContinuationsAsynchronously = true;
            _core.SetException(refusal);
        }
    }

    public override void Advance(int bytes) => _inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => _inner.UnflushedBytes;

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
