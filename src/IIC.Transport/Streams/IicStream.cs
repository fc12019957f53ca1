using System.Buffers;
using System.Runtime.ExceptionServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// A full-duplex byte stream over an <see cref="IicChannel"/>. Writes are cut into records of at most the
/// channel's claim size, so reads never need reassembly; a read takes the next message in place and keeps
/// what does not fit for the next read. Reads return 0 once the peer closed and everything was read.
/// One reader and one writer at a time (like a socket's NetworkStream).
/// <para>A message the peer sent over <see cref="ChannelOptions.MaxReceiveMessageLength"/> (a raw channel Send: this
/// stream's own writes are never fragmented) is a gap in the byte stream: the reads return every byte before it, then
/// fail with <see cref="ReceiveLimitExceededException"/>, and every later read fails with it too, since the bytes after a
/// gap would be misframed for any protocol above (as a socket stays broken after a reset). Since round 21 that read also
/// resets the connection (<see cref="ResetAfterRefusal"/>): the channel closes, so the peer's sends end with
/// <see cref="IicChannelClosedException"/> instead of waiting behind the refused message until this stream is disposed,
/// and this side's writes fail with the same <see cref="ReceiveLimitExceededException"/> (before, they went on); since
/// round 22 a WriteAsync waiting for room has failed with it before that read returns (<see cref="RefusableWait{TResult}"/>).
/// ReadAsync and WriteAsync report it (and the channel's other errors) in their tasks, as the Stream contract asks.</para>
/// <para>After <see cref="Stream.Dispose()"/>, Read, Write, ReadAsync and WriteAsync throw <see cref="ObjectDisposedException"/>
/// at the call, synchronously, not in a returned task: a use after disposal is a usage error, and .NET's connection
/// streams do the same (NetworkStream's and SslStream's ReadAsync and WriteAsync check for disposal before they start;
/// <c>DisposedStreamTests</c> compares with a real NetworkStream). Before round 24 that held only by accident (a read
/// reached the disposed channel), and a read after the peer's end returned 0, and one with bytes kept from a longer
/// message threw <see cref="ArgumentOutOfRangeException"/> (Dispose had returned their buffer). Since round 25 Dispose
/// leaves the kept bytes' buffer alone (<see cref="Dispose(bool)"/>): a read that runs meanwhile finishes with intact bytes.
/// The byte[] overloads check their arguments before disposal, as NetworkStream's do (an ArgumentException wins).</para>
/// <para>A peer that reset the connection (its pipe or stream closed with bytes unread) does not read as the end: once every
/// byte it sent was read, the reads fail with <see cref="IicChannelClosedException"/> whose
/// <see cref="IicChannelClosedException.PeerReset"/> is set, as NetworkStream's throw after a RST (round 25; before, 0).</para>
/// </summary>
internal sealed class IicStream : Stream
{
    private readonly IicChannel _channel;
    private byte[] _leftover = [];
    private int _leftoverStart;
    private int _leftoverEnd;
    private bool _ended;
    private bool _disposed; // Dispose ran: every read and write throws ObjectDisposedException at the call (the summary)
    private ExceptionDispatchInfo? _refused; // the read direction broke at a refused message (see the summary)
    private RoomWait? _roomWait; // made at the first write that finds the ring full; one writer at a time
    private RefusableWait<bool>? _writeWait; // the same write, as the application awaits it (the reset fails it at once)

    public IicStream(IicChannel channel)
    {
        _channel = channel;
    }

    public override bool CanRead => !_channel.IsDisposed;

    public override bool CanWrite => !_channel.IsDisposed;

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
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            if (TryReadNow(buffer, out var read))
            {
                return read;
            }
            _channel.WaitToReceive(Native.Deadline.Infinite); // through the channel's receive gate
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this); // at the call, as NetworkStream's (the summary)
        try
        {
            if (TryReadNow(buffer.Span, out var read))
            {
                return new ValueTask<int>(read);
            }
        }
        catch (IicException e)
        {
            return ValueTask.FromException<int>(e); // in the task, not thrown at the caller (Stream.ReadAsync's contract)
        }
        return ReadSlowAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _channel.WaitToReceiveAsync(cancellationToken).ConfigureAwait(false);
            if (TryReadNow(buffer.Span, out var read))
            {
                return read;
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _refused?.Throw(); // the connection was reset at a refused message (ResetAfterRefusal)
        try
        {
            ChunkedSend.Send(_channel, buffer, CancellationToken.None);
        }
        catch (ObjectDisposedException) when (_refused is { } refused)
        {
            refused.Throw(); // the reader reset the connection while this write waited for room
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this); // at the call, as NetworkStream's (the summary)
        if (_refused is { } reset)
        {
            return ValueTask.FromException(reset.SourceException); // the connection was reset at a refused message
        }
        int sent;
        try
        {
            sent = ChunkedSend.TrySendNow(_channel, buffer.Span);
        }
        catch (ObjectDisposedException) when (_refused is { } refused)
        {
            return ValueTask.FromException(refused.SourceException); // the reader reset the connection meanwhile
        }
        return sent == buffer.Length ? ValueTask.CompletedTask : Refusable(WriteSlowAsync(buffer[sent..], cancellationToken));
    }

    /// <summary>
    /// A write that waits for room, handed out so that a read meeting a refused message fails it before that read returns
    /// (<see cref="ResetAfterRefusal"/>, round 22); before, it ended a moment later, once the room waiter and the thread
    /// pool had run it.
    /// </summary>
    private ValueTask Refusable(ValueTask<bool> write)
    {
        if (write.IsCompleted)
        {
            return write.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(write.AsTask());
        }
        var wait = _writeWait;
        if (wait is null)
        {
            wait = new RefusableWait<bool>(() => Volatile.Read(ref _refused)?.SourceException);
            Volatile.Write(ref _writeWait, wait); // the reset looks for it after it set _refused (a full fence there)
        }
        return new ValueTask(wait, wait.Track(write));
    }

    /// <summary>
    /// Back pressure without holding a thread and without polling (issue 17, item 4; round 15 for the stream): when the
    /// peer's ring is full the write awaits the ring's "room armed" wake on the process's <see cref="RoomWaiter"/> thread,
    /// as a duplex pipe's send loop does, so it resumes one wake-up after the peer's reader returns space. Until round 15
    /// it retried with Task.Yield and then 1 ms delays. Cancelling <paramref name="cancellationToken"/> ends the wait
    /// (records already sent stay sent); disposing the stream ends it with <see cref="ObjectDisposedException"/>.
    /// </summary>
    private async ValueTask<bool> WriteSlowAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _refused?.Throw(); // a read met a refused message while this write waited, and reset the connection
            int sent;
            try
            {
                sent = ChunkedSend.TrySendNow(_channel, buffer.Span);
            }
            catch (ObjectDisposedException) when (_refused is { } refused)
            {
                refused.Throw(); // the reader reset the connection between the check above and this send
                throw;
            }
            if (sent > 0)
            {
                buffer = buffer[sent..];
                continue;
            }
            var roomWait = _roomWait ??= new RoomWait(_channel.Endpoint, CancellationToken.None);
            await roomWait.WaitAsync((int)Math.Min(_channel.MaxClaimLength, buffer.Length), cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    public override void Flush()
    {
        // Every write is published when it returns: nothing is buffered.
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("An IICFast stream cannot seek.");

    public override void SetLength(long value) => throw new NotSupportedException("An IICFast stream has no length.");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _disposed = true;
            _channel.Dispose();
            if (_roomWait is not null)
            {
                RoomWaiter.Wake(); // a write waiting for room sees the channel ended now, not at the waiter's next 10 ms look
            }
            // The kept bytes' buffer is left to the garbage collector, not returned to the pool: a read running on another
            // thread (Dispose is how a blocked read is ended, as with a socket) may still copy out of it, or keep a longer
            // message's rest in it. Before round 25 Dispose returned it, so such a read copied from, or wrote into, an
            // array the pool had handed to someone else. Knowing that no read runs would cost every read two interlocked
            // operations; an array not returned to ArrayPool is not a leak, only one the pool does not reuse.
        }
        base.Dispose(disposing);
    }

    private bool TryReadNow(Span<byte> buffer, out int read)
    {
        if (buffer.IsEmpty)
        {
            read = 0;
            return true;
        }
        if (_leftoverEnd > _leftoverStart)
        {
            read = Math.Min(buffer.Length, _leftoverEnd - _leftoverStart);
            _leftover.AsSpan(_leftoverStart, read).CopyTo(buffer);
            _leftoverStart += read;
            return true;
        }
        if (_ended)
        {
            read = 0;
            return true;
        }
        _refused?.Throw();
        try
        {
            var handler = new CopyOut(this, buffer);
            while (_channel.Poll(ref handler, 1) == 1)
            {
                if (handler.Copied > 0)
                {
                    read = handler.Copied;
                    return true;
                }
                // An empty message carries nothing for a stream: take the next.
            }
        }
        catch (IicChannelClosedException e) when (!e.PeerReset)
        {
            // A clean close reads as the end; a reset (round 25) is thrown, as NetworkStream's reads throw after a RST.
            _ended = true;
            read = 0;
            return true;
        }
        catch (ReceiveLimitExceededException e)
        {
            // Before the reset, with a full fence: a writer that meets the reset reads this, and the reset then sees a write
            // that armed its wait before it could see this (RefusableWait.Track checks it after arming).
            Interlocked.Exchange(ref _refused, ExceptionDispatchInfo.Capture(e));
            ResetAfterRefusal(e);
            throw;
        }
        read = 0;
        return false;
    }

    /// <summary>
    /// The reads are over for good (the summary): the connection is reset, as a socket closed with unread data is. The
    /// channel closes, so the peer's sends, which would otherwise wait for room behind the refused message until this
    /// stream is disposed, end with <see cref="IicChannelClosedException"/> now (round 21), and the peer receives what this
    /// side sent before, then the end. This side's writes fail with the refusal from then on; a WriteAsync waiting for room
    /// has failed with it before the read that reports it returns (round 22).
    /// </summary>
    private void ResetAfterRefusal(ReceiveLimitExceededException refusal)
    {
        Volatile.Read(ref _writeWait)?.Fail(refusal);
        _channel.Endpoint.ResetOnClose(); // the peer's reads fail with PeerReset instead of ending cleanly (round 25)
        _channel.Dispose();
        RoomWaiter.Wake(); // a write waiting for room sees the end now, not at the waiter's next look
    }

    private void KeepLeftover(ReadOnlySpan<byte> rest)
    {
        if (_leftover.Length < rest.Length)
        {
            if (_leftover.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_leftover);
            }
            _leftover = ArrayPool<byte>.Shared.Rent(rest.Length);
        }
        rest.CopyTo(_leftover);
        _leftoverStart = 0;
        _leftoverEnd = rest.Length;
    }

    /// <summary>Copies a message into the reader's buffer and keeps the rest. A ref struct: it holds the caller's span.</summary>
    private ref struct CopyOut(IicStream stream, Span<byte> destination) : IMessageHandler
    {
        private readonly Span<byte> _destination = destination;

        public int Copied { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var length = Math.Min(message.Length, _destination.Length);
            message[..length].CopyTo(_destination);
            Copied = length;
            if (length < message.Length)
            {
                stream.KeepLeftover(message[length..]);
            }
        }
    }
}
