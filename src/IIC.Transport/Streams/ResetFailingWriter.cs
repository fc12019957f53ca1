using System.IO.Pipelines;

namespace IIC.Transport;

/// <summary>
/// The duplex pipe's <see cref="IicDuplexPipe.Output"/>: the output pipe's writer, except that from the moment the
/// connection was reset (<see cref="IicDuplexPipe.Reset"/>: a refused message, or bytes nobody will read) every flush and
/// write fails with the reset's error (<see cref="IicDuplexPipe.ResetError"/>: the <see cref="ReceiveLimitExceededException"/>
/// or <see cref="IicChannelClosedException"/>, as the pipe's <see cref="IicDuplexPipe.TranslateError"/> makes it), and a
/// flush the application was awaiting (the peer's ring full, over <see cref="IicPipeOptions.OutputPauseThreshold"/>) is
/// failed with it by the reset itself (<see cref="RefusableWait{TResult}"/>). So once the read (or the input's Complete)
/// that reports the refusal has returned, nothing the application does with the output succeeds. Round 21 left that to
/// the send loop, which completes the output pipe only when its wait for room has ended on the <see cref="RoomWaiter"/>
/// thread and the thread pool: a flush made in that gap could still succeed, and a waiting one ended later. (Named
/// RefusalFailingWriter until round 23, when a reset could only come from a refusal.)
/// <para>A flush that completes at once costs one field read (its result passes through unchanged, nothing allocated);
/// one that waits goes through the pipe's one reusable <see cref="RefusableWait{TResult}"/>, resumed by the output
/// pipe's writer scheduler as before.</para>
/// </summary>
internal sealed class ResetFailingWriter(PipeWriter inner, IicDuplexPipe pipe) : PipeWriter
{
    private static readonly FlushResult s_ended = new(isCanceled: false, isCompleted: true);
    private readonly RefusableWait<FlushResult> _waiting = new(() => pipe.ResetError, () => pipe.EndOutputWithoutError, s_ended);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        => pipe.ResetError is { } reset ? Ended(reset) : Track(inner.FlushAsync(cancellationToken));

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        => pipe.ResetError is { } reset ? Ended(reset) : Track(inner.WriteAsync(source, cancellationToken));

    /// <summary>
    /// The reset (after it set <see cref="IicDuplexPipe.ResetError"/>): a flush the application awaits fails with
    /// <paramref name="error"/> now, or returns IsCompleted with <see cref="IicDuplexPipe.EndOutputWithoutError"/>.
    /// </summary>
    public void FailWaitingFlush(Exception error) => _waiting.Fail(error);

    /// <summary>After a reset: the error, or (a Kestrel connection, <see cref="IicDuplexPipe.EndOutputWithoutError"/>) a completed flush, as a socket's.</summary>
    private ValueTask<FlushResult> Ended(Exception reset) => pipe.EndOutputWithoutError ? ValueTask.FromResult(s_ended) : ValueTask.FromException<FlushResult>(reset);

    private ValueTask<FlushResult> Track(ValueTask<FlushResult> flush) => flush.IsCompleted ? flush : new ValueTask<FlushResult>(_waiting, _waiting.Track(flush));

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
