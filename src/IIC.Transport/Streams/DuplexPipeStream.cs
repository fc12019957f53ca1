using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace IIC.Transport;

/// <summary>
/// A <see cref="Stream"/> over an <see cref="IicDuplexPipe"/>, for stream protocols that should get the pipe's receive
/// thread instead of async waits (SocketsHttpHandler's HTTP/2 connection reads in a loop: its frame parsing continues
/// from the receive thread). Reads copy out of the pipe; a write goes straight into the ring when nothing written before
/// is still queued (<see cref="IicDuplexPipe.TrySendDirect"/>), else it is a pipe write and flush; either way it is in
/// the ring when it returns (unless the peer's ring is full). One reader and one writer at a time. Disposing it disposes the pipe and the channel.
/// <para>Errors are the pipe's: a connection reset (a refused message, bytes nobody will read) fails reads and writes with
/// the <see cref="ReceiveLimitExceededException"/> or <see cref="IicChannelClosedException"/>, both
/// <see cref="IOException"/>s, which is what SocketsHttpHandler expects of a reset NetworkStream; after Dispose every read
/// and write throws <see cref="ObjectDisposedException"/>, as NetworkStream's do (round 23; before, whatever the completed
/// pipe threw), and ReadAsync and WriteAsync throw it at the call, synchronously, as NetworkStream's and SslStream's do
/// (round 24; before, in a faulted task, unlike <see cref="IicStream"/>). Once the pipe's send loop has ended (a reset
/// makes that prompt) nothing counts as queued, so a write that fails then adds nothing to the count
/// (<see cref="IicDuplexPipe.QueueForSend"/>). Disposing drains for at most <see cref="IicDuplexPipe.DefaultDrainTimeout"/>
/// (5 s) and does not wait for the receive thread.</para>
/// </summary>
internal sealed class DuplexPipeStream(IicDuplexPipe pipe) : Stream
{
    private int _disposed;
    private bool _wrote; // the one writer's: whether its first write was shown to the pipe's HTTP/2 detection

    public override bool CanRead => _disposed == 0;

    public override bool CanWrite => _disposed == 0;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException("An IICFast stream has no length: it is a connection.");

    public override long Position
    {
        get => throw new NotSupportedException("An IICFast stream cannot seek.");
        set => throw new NotSupportedException("An IICFast stream cannot seek.");
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var reader = pipe.Input;
        if (!reader.TryRead(out var result))
        {
            if (pipe.OnReceiveThread)
            {
                throw new InvalidOperationException("A synchronous read on the pipe's receive thread (an inline continuation) would wait for itself; read asynchronously there.");
            }
            result = reader.ReadAsync().AsTask().GetAwaiter().GetResult();
        }
        return Take(reader, result, buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this); // at the call, as NetworkStream's (the summary)
        var reader = pipe.Input;
        return reader.TryRead(out var result) ? new ValueTask<int>(Take(reader, result, buffer.Span)) : ReadSlowAsync(buffer, cancellationToken);
    }

    /// <summary>Pooled state machine: a read that waits allocates nothing at steady state.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var reader = pipe.Input;
        var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return Take(reader, result, buffer.Span);
    }

    /// <summary>Copies what fits and consumes it; 0 only at the end (or for an empty buffer).</summary>
    private static int Take(PipeReader reader, ReadResult result, Span<byte> destination)
    {
        var available = result.Buffer;
        if (result.IsCanceled)
        {
            reader.AdvanceTo(available.Start);
            throw new OperationCanceledException("The pending read was cancelled.");
        }
        var length = (int)Math.Min(destination.Length, available.Length);
        available.Slice(0, length).CopyTo(destination);
        reader.AdvanceTo(available.GetPosition(length));
        return length;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ObserveFirstWrite(buffer);
        var sent = pipe.TrySendDirect(buffer);
        if (sent == buffer.Length)
        {
            return;
        }
        buffer = buffer[sent..];
        pipe.QueueForSend(buffer.Length);
        var writer = pipe.Output;
        writer.Write(buffer);
        var flush = writer.FlushAsync();
        ThrowIfCanceled(flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult());
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this); // at the call, as NetworkStream's (the summary)
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }
        ObserveFirstWrite(buffer.Span);
        var sent = pipe.TrySendDirect(buffer.Span);
        if (sent == buffer.Length)
        {
            return ValueTask.CompletedTask;
        }
        buffer = buffer[sent..];
        pipe.QueueForSend(buffer.Length);
        var flush = pipe.Output.WriteAsync(buffer, cancellationToken);
        if (flush.IsCompletedSuccessfully)
        {
            ThrowIfCanceled(flush.Result);
            return ValueTask.CompletedTask;
        }
        return AwaitFlushAsync(flush); // a failure goes into the returned task, as the Stream contract asks
    }

    /// <summary>
    /// SocketsHttpHandler's HTTP/2 connection writes the client preface first: from then on the pipe's reader (its frame
    /// loop) continues inline on the receive thread (<see cref="IicPipeOptions.InlineHttp2Reads"/>).
    /// </summary>
    private void ObserveFirstWrite(ReadOnlySpan<byte> buffer)
    {
        if (!_wrote && !buffer.IsEmpty)
        {
            _wrote = true;
            pipe.ObserveFirstWrite(buffer);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush) => ThrowIfCanceled(await flush.ConfigureAwait(false));

    private static void ThrowIfCanceled(FlushResult result)
    {
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("The pending flush was cancelled.");
        }
    }

    public override void Flush()
    {
        // Every write is flushed (published) when it returns.
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("An IICFast stream cannot seek.");

    public override void SetLength(long value) => throw new NotSupportedException("An IICFast stream has no length.");

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            // Publishes what was flushed and closes the channel; does not wait for the receive thread (see DisposeAsync).
            pipe.DisposeAsync(IicDuplexPipe.DefaultDrainTimeout, waitForReceiveThread: false).AsTask().GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await pipe.DisposeAsync(IicDuplexPipe.DefaultDrainTimeout, waitForReceiveThread: false).ConfigureAwait(false);
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
