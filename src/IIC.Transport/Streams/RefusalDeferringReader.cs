using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace IIC.Transport;

/// <summary>
/// The duplex pipe's <see cref="IicDuplexPipe.Input"/>: the input pipe's reader, except that a refused message
/// (<see cref="ReceiveLimitExceededException"/>, docs/window-layout.md 2.4) fails the reads only after the application has
/// had every byte received before it. System.IO.Pipelines cannot do that itself: a writer completed with an error makes
/// the next read throw at once, whatever is still unread (round 20 lost those bytes). So the receive thread completes
/// the input pipe normally and leaves the refusal here (<see cref="Defer"/>); a read that finds the pipe completed hands
/// out what is left with IsCompleted false (a refusal is not a clean end), and throws the refusal once there is nothing
/// left or the application examined all of the rest and consumed none of it since it last had it (no more bytes will
/// come, so it can make no progress: the point where a pipe completed with the error would throw); an application that
/// examined only part of it is handed the same bytes again, as PipeReader's contract says. Then the pipe resets the connection
/// (<see cref="IicDuplexPipe.Reset"/>) and every later read throws the refusal too. What the reads throw is the refusal as
/// the pipe's <see cref="IicDuplexPipe.TranslateError"/> makes it, translated once (round 23: Kestrel's connection gets a
/// <c>ConnectionResetException</c> with the refusal as its InnerException, the same instance on every read and on the
/// output; before, the bare <see cref="ReceiveLimitExceededException"/>). Since round 25 the peer's reset
/// (<see cref="IicChannelClosedException.PeerReset"/>) is deferred the same way: the bytes it sent before it, then the reset;
/// since round 25b so is the peer's death (<see cref="PeerDeadException"/>; before, the bytes not read yet were lost).
/// <para>An application that completed this reader will never meet the refusal, so the reset comes from whichever of the
/// two happens second (round 22): <see cref="Complete"/> after the refusal was deferred, or <see cref="Defer"/> after the
/// reader was completed (then the receive thread resets). Before, nothing did, and the peer's send waited behind the
/// refused message until this side was disposed.</para>
/// <para>Kestrel's HTTP/1.x request bodies are PipeReaders of this kind over the connection's input (they rewrite
/// ReadResult.IsCompleted at the body's end, and their async reads run on PoolingAsyncValueTaskMethodBuilder); so is
/// this one: a read that completes at once costs a field read, one that waits a pooled state machine (no allocation per
/// message). Without a refusal the results pass through unchanged.</para>
/// </summary>
internal sealed class RefusalDeferringReader(PipeReader inner, IicDuplexPipe pipe) : PipeReader
{
    private Exception? _refusal; // the refusal as the application sees it (translated); written by the receive thread before it completes the input pipe
    private long _lastFinalLength = -1; // the bytes handed out by the last read that found the pipe completed
    private SequencePosition _lastFinalEnd; // where those bytes end
    private bool _examinedToEnd; // the application's AdvanceTo after that read examined all of them (it waits for more)
    private bool _surfaced; // the reads threw the refusal (the application's reads are serial: no lock)
    private int _completed; // the application completed this reader: nobody will ever read the refusal
    private bool _readPending; // a read waits for bytes (a disposal may complete this reader from another thread meanwhile)
    private bool _holding; // the application holds the buffer of its last read (no AdvanceTo since); the reads are serial
    private SequencePosition _heldStart; // where that buffer starts
    private SequencePosition _heldEnd; // and ends

    /// <summary>
    /// The receive thread, before it completes the input pipe: the refusal the reads report after the bytes before it; or,
    /// when the application has completed this reader already, the reset at once.
    /// </summary>
    public void Defer(IicException refusal)
    {
        var reported = pipe.Translate(refusal); // once, so every read and the output throw the same instance
        Interlocked.Exchange(ref _refusal, reported); // full fence: this check or Complete's sees the other (the reset runs once)
        if (Volatile.Read(ref _completed) != 0)
        {
            pipe.Reset(reported);
        }
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_surfaced)
        {
            return ValueTask.FromException<ReadResult>(_refusal!);
        }
        var read = inner.ReadAsync(cancellationToken);
        if (!read.IsCompleted)
        {
            return ReadPendingAsync(read);
        }
        if (!read.IsCompletedSuccessfully)
        {
            return read; // a corrupt ring or an unexpected error: the input pipe was completed with it (reported at once)
        }
        try
        {
            return new ValueTask<ReadResult>(Inspect(read.Result));
        }
        catch (Exception e) when (ReferenceEquals(e, _refusal))
        {
            return ValueTask.FromException<ReadResult>(e);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadPendingAsync(ValueTask<ReadResult> read)
    {
        Volatile.Write(ref _readPending, true);
        try
        {
            return Inspect(await read.ConfigureAwait(false));
        }
        finally
        {
            Volatile.Write(ref _readPending, false);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_surfaced)
        {
            ExceptionDispatchInfo.Throw(_refusal!);
        }
        if (!inner.TryRead(out result))
        {
            return false;
        }
        result = Inspect(result);
        return true;
    }

    /// <summary>
    /// Passes <paramref name="result"/> through unless the pipe completed after a refusal: then hands out the rest with
    /// IsCompleted false, or, when nothing is left or nothing of it was consumed since the last such read, throws.
    /// </summary>
    private ReadResult Inspect(ReadResult result)
    {
        if (!result.IsCompleted || Volatile.Read(ref _refusal) is not { } refusal)
        {
            Hold(result.Buffer);
            return result;
        }
        var length = result.Buffer.Length;
        // Nothing left, or the application examined all of the rest and consumed none of it: it waits for bytes that will
        // never come, where a pipe completed with the error would throw. One that examined only part is handed the same
        // bytes again, as any PipeReader does.
        if (length == 0 || (length == _lastFinalLength && _examinedToEnd))
        {
            _surfaced = true;
            inner.AdvanceTo(result.Buffer.End); // ends the inner read; the application gave up on these bytes
            pipe.Reset(refusal);
            ExceptionDispatchInfo.Throw(refusal);
        }
        _lastFinalLength = length;
        _lastFinalEnd = result.Buffer.End;
        _examinedToEnd = false;
        Hold(result.Buffer);
        return new ReadResult(result.Buffer, result.IsCanceled, isCompleted: false);
    }

    /// <summary>The application has this buffer until its AdvanceTo (<see cref="UnreadBytes"/>): three field writes per read.</summary>
    private void Hold(in System.Buffers.ReadOnlySequence<byte> buffer)
    {
        _heldStart = buffer.Start;
        _heldEnd = buffer.End;
        _holding = true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_lastFinalLength >= 0)
        {
            _examinedToEnd = examined.Equals(_lastFinalEnd); // only after a read that found the pipe completed
        }
        _holding = false;
        inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    /// <summary>
    /// Completes the input pipe's reader. A refusal deferred and not yet reported resets the connection now (nobody will
    /// read it); so do bytes received and not consumed (<see cref="UnreadBytes"/>), as TCP resets a connection closed
    /// with data in its receive buffer (round 24; before, only bytes arriving after this Complete reset it).
    /// </summary>
    public override void Complete(Exception? exception = null)
    {
        var unread = UnreadBytes();
        inner.Complete(exception);
        ResetIfUnread(unread);
    }

    /// <summary>As <see cref="Complete"/>.</summary>
    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        var unread = UnreadBytes();
        var completion = inner.CompleteAsync(exception);
        ResetIfUnread(unread);
        return completion;
    }

    /// <summary>
    /// The bytes in the input pipe the application has not consumed, just before it completes the reader: what a socket's
    /// receive buffer would hold. 0 once the receive thread has completed the pipe (the peer closed, died or faulted, or
    /// this side was disposed: there is nobody left to reset, and a refusal resets by itself), after the application's
    /// own Complete, or while a read is pending (it consumed all it was handed, or it waits for more of what it examined:
    /// those bytes are not counted; the cancellation below would end that read, which a disposal must not). A read the
    /// application holds (no AdvanceTo since it) is advanced to its start first: it consumed none of it, and it gives the
    /// buffer up with this Complete.
    /// </summary>
    private long UnreadBytes()
    {
        if (Volatile.Read(ref _completed) != 0 || _surfaced || Volatile.Read(ref _readPending))
        {
            return 0;
        }
        try
        {
            if (_holding)
            {
                _holding = false;
                inner.AdvanceTo(_heldStart, _heldEnd); // examined may not go back (the pipe throws)
            }
            // A cancelled read hands out every unconsumed byte, examined or not (a plain TryRead returns false once the
            // application examined them all); nobody reads after this Complete, so the cancellation reaches no one.
            inner.CancelPendingRead();
            if (!inner.TryRead(out var result))
            {
                return 0;
            }
            var unread = result.IsCompleted ? 0 : result.Buffer.Length;
            inner.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            return unread;
        }
#pragma warning disable CA1031 // Only a count: the pipe ended with an error (peer death, a fault) or a read is pending on it; the Complete goes on.
        catch (Exception)
        {
            return 0;
        }
#pragma warning restore CA1031
    }

    private void ResetIfUnread(long unread)
    {
        Interlocked.Exchange(ref _completed, 1); // full fence: this check or Defer's sees the other
        if (Volatile.Read(ref _refusal) is { } refusal)
        {
            pipe.Reset(refusal); // once: a read that threw it reset already
        }
        else if (unread > 0)
        {
            pipe.ResetUnreadAtComplete(unread);
        }
    }
}
