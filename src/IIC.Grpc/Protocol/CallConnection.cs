using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Grpc.Core;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Grpc.Protocol;

/// <summary>
/// One IicChannel carrying many calls: a send side shared by every call (a lock around each frame, and large messages
/// cut into chunks so one big call cannot hold the channel while others wait) and one dedicated reader thread that
/// takes frames out of the ring in place and hands them to the call their stream id names. Client and server
/// connections derive from it and say what a frame means.
/// </summary>
internal abstract partial class CallConnection : IDisposable
{
    private readonly IicChannel _channel;
    private readonly Lock _sendLock = new();
    private readonly Thread _reader;
    private readonly int _chunkData;
    private List<IBatchWake> _wakes = []; // reader thread only: calls to wake once the current poll batch is handled
    private List<IBatchWake> _running = []; // reader thread only: the batch's wakes being run (they may ask for the next)
    private int _framesInBatch; // reader thread only: frames handled so far in the current poll

    /// <summary>
    /// A/B switch <c>IIC_GRPC_WAKE_FIRST_NOW=1</c> (off by default; timing only): a waiting stream reader is woken at once by
    /// the first frame of a poll batch (inside the frame callback, as before round 9) and only later frames' wakes wait for
    /// the batch's end. A ping-pong's one frame per batch then wakes its reader before the poll's tail (the look at the
    /// next record, the head publication) rather than after it; a burst costs two waits per batch instead of one.
    /// </summary>
    private static readonly bool s_wakeFirstNow = Environment.GetEnvironmentVariable("IIC_GRPC_WAKE_FIRST_NOW") == "1";
    private int _closed;

    protected CallConnection(IicChannel channel, string threadName, int maxMetadataSize = DefaultMaxMetadataSize)
    {
        _channel = channel;
        // One ring record per frame: a chunk plus its header fits in what the channel claims in one piece.
        _chunkData = Math.Max(256, Math.Min(Frame.MaxChunkData, channel.MaxClaimLength - Frame.FirstChunkHeaderLength));
        // A longer frame is looked at (CallConnection.Continuation.cs): split when over one record, refused when its header
        // block is over the limit. With the default limit that is the one record, the compare the send paths always made.
        _maxMetadata = maxMetadataSize;
        _sendMetadataLimit = maxMetadataSize;
        _sendCheckAbove = SendCheckAbove(channel, maxMetadataSize);
        _receiveCheckAboveIdle = _sendCheckAbove;
        _receiveCheckAbove = _sendCheckAbove;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = threadName };
    }

    /// <summary>Whether the connection ended (peer gone, protocol error or disposed): new calls need another.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>The channel underneath.</summary>
    public IicChannel Channel => _channel;

    /// <summary>Starts the reader thread.</summary>
    protected void StartReader() => _reader.Start();

    /// <summary>Handles one frame on the reader thread; <paramref name="body"/> lies in the ring, valid only during the call.</summary>
    /// <exception cref="InvalidDataException">A malformed frame: the connection is closed.</exception>
    protected abstract void OnFrame(FrameType type, FrameFlags flags, uint streamId, ReadOnlySpan<byte> body);

    /// <summary>The connection ended; <paramref name="reason"/> says why. Called once.</summary>
    protected abstract void OnClosed(Exception reason);

    /// <summary>
    /// Sends one whole frame (built in <paramref name="frame"/>) and returns once it is in the ring. On any thread but the
    /// connection's reader it waits, on this thread, when it cannot go at once: queued for the connection's sender
    /// (<see cref="SendQueuedAsync"/>, the one writer that waits for room), in order behind what was queued before it. On
    /// the reader thread (inline handlers and completions) it never waits: a frame that does not fit now is copied and
    /// sent, in order, after later polls (<see cref="SendOrDefer"/>). Senders that must not hold their thread use
    /// <see cref="SendFrameOrQueue"/> or <see cref="SendFrameWithoutWaiting"/>.
    /// </summary>
    /// <returns>Whether the frame was deferred (reader thread only): <see cref="WhenDeferredSent"/> says when it went.</returns>
    /// <exception cref="IOException">The peer closed or died (<see cref="IicChannelClosedException"/>, <see cref="PeerDeadException"/>).</exception>
    /// <exception cref="ObjectDisposedException">The connection was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended the wait, queued or for room (nothing more of the frame was sent).</exception>
    /// <exception cref="RpcException"><c>ResourceExhausted</c>: the frame's header block is over <see cref="MaxMetadataSize"/> (nothing was sent).</exception>
    public bool SendFrame(ReadOnlySpan<byte> frame, CancellationToken cancellationToken = default)
    {
        if (s_readerDefers && IsCurrentReader)
        {
            return SendOrDefer(frame);
        }
        if ((frame.Length > _sendCheckAbove && MustSplit(frame)) || !TryNow(frame))
        {
            SendQueuedAndWait(frame, cancellationToken);
        }
        return false;
    }

    /// <summary>
    /// Sends a frame that is only the fixed header without waiting on this thread: now if it can go at once, else queued
    /// for the connection's sender (<see cref="SendQueuedAsync"/>), which sends it in order, awaiting room without a thread
    /// (dropped if the connection ends). For a Cancel, which an application thread sends from Dispose, a token's callback
    /// or the deadline's timer, none of which may hang while the peer is stuck, and a HalfClose. Reader thread: as
    /// <see cref="SendEmptyFrame"/> (it never waits).
    /// </summary>
    /// <exception cref="IOException">The peer closed or died.</exception>
    /// <exception cref="ObjectDisposedException">The connection was disposed.</exception>
    public void SendEmptyFrameWithoutWaiting(FrameType type, uint streamId)
    {
        if (s_readerDefers && IsCurrentReader)
        {
            SendEmptyFrame(type, streamId);
            return;
        }
        Span<byte> frame = stackalloc byte[Frame.HeaderLength];
        Frame.WriteHeader(frame, type, FrameFlags.None, streamId);
        if (!TryNow(frame))
        {
            QueueUnobserved(frame);
        }
    }

    /// <summary>
    /// Sends a whole frame without waiting on this thread for room or for the send lock: now if it can go at once, else a
    /// copy is queued for the connection's sender, which sends it in order with the other queued frames, awaiting room
    /// without a thread (dropped if the connection ends). For a server call's trailers: Finish runs on the handler's
    /// thread once the handler returned, and a client that does not read (frozen, or hostile) would otherwise hold that
    /// thread, one pool thread per call, for as long as it reads nothing. Reader thread: as <see cref="SendFrame"/> (it
    /// defers, never waits). A frame longer than one record (trailers with large metadata) always goes queued, in pieces
    /// of one record (CallConnection.Continuation.cs).
    /// </summary>
    /// <exception cref="IOException">The peer closed or died.</exception>
    /// <exception cref="ObjectDisposedException">The connection was disposed.</exception>
    /// <exception cref="RpcException"><c>ResourceExhausted</c>: the frame's header block is over <see cref="MaxMetadataSize"/> (nothing was sent).</exception>
    public void SendFrameWithoutWaiting(ReadOnlySpan<byte> frame)
    {
        if (s_readerDefers && IsCurrentReader)
        {
            SendFrame(frame);
            return;
        }
        if ((frame.Length > _sendCheckAbove && MustSplit(frame)) || !TryNow(frame))
        {
            QueueUnobserved(frame);
        }
    }

    /// <summary>Sends a frame that is only the fixed header.</summary>
    public void SendEmptyFrame(FrameType type, uint streamId)
    {
        Span<byte> frame = stackalloc byte[Frame.HeaderLength];
        Frame.WriteHeader(frame, type, FrameFlags.None, streamId);
        SendFrame(frame);
    }

    /// <summary>
    /// Sends the message serialized in <paramref name="builder"/> (by <see cref="Serialization.Serialize"/>) as Message
    /// frames of at most one chunk each, taking the send lock per chunk so other calls' frames go in between.
    /// Each later chunk's header is written over the tail of the chunk already sent before it: no copy.
    /// </summary>
    /// <returns>Whether a chunk was deferred (on the reader thread, the ring full): see <see cref="SendFrame"/>.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended a wait for room: the rest of the message is not sent (its call ended: the peer drops it with the call).</exception>
    public bool SendMessage(FrameBuilder builder, uint streamId, bool endStream, CancellationToken cancellationToken = default)
    {
        var buffer = builder.Buffer;
        var end = builder.Length;
        var total = end - Frame.FirstChunkHeaderLength;
        var endFlag = endStream ? FrameFlags.EndStream : FrameFlags.None;
        var chunk = Math.Min(total, _chunkData);
        var flags = FrameFlags.First | (chunk == total ? FrameFlags.Last | endFlag : FrameFlags.None);
        Frame.WriteHeader(buffer, FrameType.Message, flags, streamId);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(Frame.HeaderLength), (uint)total);
        var deferred = SendFrame(buffer.AsSpan(0, Frame.FirstChunkHeaderLength + chunk), cancellationToken);
        var offset = Frame.FirstChunkHeaderLength + chunk;
        while (offset < end)
        {
            chunk = Math.Min(end - offset, _chunkData);
            var start = offset - Frame.HeaderLength; // the previous chunk's last bytes, already in the ring
            Frame.WriteHeader(buffer.AsSpan(start), FrameType.Message, offset + chunk == end ? FrameFlags.Last | endFlag : FrameFlags.None, streamId);
            deferred |= SendFrame(buffer.AsSpan(start, Frame.HeaderLength + chunk), cancellationToken);
            offset += chunk;
        }
        return deferred;
    }

    /// <summary>
    /// Whether a serialized message (in <paramref name="builder"/>, as <see cref="Serialization.Serialize"/> left it) is
    /// small enough to ride in a CallStart or Trailers frame (<see cref="FrameFlags.WithMessage"/>): one chunk at most.
    /// </summary>
    public bool CanCarry(FrameBuilder builder) => builder.Length - Frame.FirstChunkHeaderLength <= _chunkData;

    /// <summary>
    /// Turns <paramref name="builder"/> (a serialized message behind room for a first chunk header) into the start of a
    /// <paramref name="type"/> frame carrying it (<see cref="FrameFlags.WithMessage"/>): writes the header and the length;
    /// the caller appends the type's own fields and sends <see cref="FrameBuilder.Written"/>.
    /// </summary>
    public static void StartCarrierFrame(FrameBuilder builder, FrameType type, FrameFlags flags, uint streamId)
    {
        var buffer = builder.Buffer;
        Frame.WriteHeader(buffer, type, flags | FrameFlags.WithMessage, streamId);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(Frame.HeaderLength), (uint)(builder.Length - Frame.FirstChunkHeaderLength));
    }

    /// <summary>
    /// Takes the message a <see cref="FrameFlags.WithMessage"/> frame carries off the front of <paramref name="body"/>:
    /// returns it as a first-and-last chunk body (<c>[length u32][bytes]</c>, for <see cref="MessageAssembler.Add"/>) and
    /// leaves the type's own fields in <paramref name="rest"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The announced length runs past the frame (a broken peer).</exception>
    public static ReadOnlySpan<byte> TakeCarriedMessage(ReadOnlySpan<byte> body, out ReadOnlySpan<byte> rest)
    {
        var reader = new FrameReader(body);
        var length = reader.ReadUInt32();
        if (length > (uint)reader.Rest.Length)
        {
            throw new InvalidDataException($"A frame announces a carried message of {length} bytes and has {reader.Rest.Length} left (the peer is broken).");
        }
        rest = reader.Rest[(int)length..];
        return body[..(4 + (int)length)];
    }

    [ThreadStatic]
    private static CallConnection? t_reading;

    /// <summary>Whether the current thread is a connection's reader thread (where blocking on a call would deadlock it).</summary>
    public static bool OnReaderThread => t_reading is not null;

    /// <summary>Whether the current thread is this connection's reader thread.</summary>
    public bool IsCurrentReader => ReferenceEquals(t_reading, this);

    private void ReadLoop()
    {
        t_reading = this;
        var handler = new FrameHandler(this);
        Exception reason;
        try
        {
            var endpoint = _channel.Endpoint;
            while (true)
            {
                // Take what is there in place; then wake what the batch asked to (or what yielded to this poll); wait (spin,
                // then sleep on the futex) only when the ring was empty and nothing waits for the reader.
                var taken = _channel.Poll(ref handler, 64);
                _framesInBatch = 0;
                var woke = _wakes.Count != 0;
                if (woke)
                {
                    RunWakes();
                }
                if (HasDeferred)
                {
                    // Frames this thread could not send without waiting: sent now if they fit (the peer reads while this
                    // thread reads, so room comes); else a short wait, as room does not ring this thread's doorbell. The
                    // stall clock runs meanwhile (a peer that takes nothing for the server's limit loses its connection).
                    if (FlushDeferred())
                    {
                        _deferStallStart = 0;
                    }
                    else
                    {
                        CheckDeferredStall();
                        if (taken == 0 && !woke)
                        {
                            endpoint.WaitToReceive(Stopwatch.GetTimestamp() + DeferredRetryTicks);
                        }
                    }
                }
                else if (taken == 0 && !woke)
                {
                    var parks = CallTrace.Enabled ? endpoint.Waiter.Parks : 0;
                    endpoint.WaitToReceive(long.MaxValue);
                    CallTrace.MarkWake(endpoint.Waiter, parks);
                }
            }
        }
        catch (ReceiveLimitExceededException e)
        {
            // The transport refused a fragmented message over the channel's limit (WithFrameReceiveLimit): no frame is that
            // long, so the peer is broken or hostile; a protocol error, as a frame over MaxMetadataSize is.
            reason = new InvalidDataException($"The peer sent a transport-fragmented frame of {e.MessageLength} bytes, over the {e.Limit} bytes a frame can be (a header block of MaxMetadataSize with a message chunk, docs/grpc-call-protocol.md 2.9); it was dropped unread and the connection is closed (the peer is broken or hostile).", e);
        }
#pragma warning disable CA1031 // The reader thread must not take the process down: whatever ends it ends the connection, and OnClosed reports it.
        catch (Exception e)
        {
            reason = e;
        }
#pragma warning restore CA1031
        Close(reason);
        FailDeferred(reason);
        // Handlers that yielded to this reader (inline, mid-stream) resume once more: their calls were just cancelled, so
        // their next write fails and they end. A write on a cancelled call never yields again, so this ends.
        try
        {
            for (var round = 0; round < 4 && _wakes.Count != 0; round++)
            {
                RunWakes();
            }
        }
#pragma warning disable CA1031 // as above: the connection is already closed, and the reader thread must not take the process down
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    /// <summary>
    /// Reader thread only, during a frame: whether a waiting stream reader should be woken now rather than at the batch's
    /// end (<see cref="s_wakeFirstNow"/>: the batch's first frame).
    /// </summary>
    public bool WakeNow => s_wakeFirstNow && _framesInBatch == 1;

    /// <summary>
    /// Reader thread only: calls <paramref name="call"/>'s <see cref="IBatchWake.OnBatchEnd"/> once the current poll
    /// batch is handled (the next poll's, when asked outside one). A frame asks to wake a stream's waiting reader (the call
    /// asks at most once per batch): woken per message it would run once per message (and, inline, inside the frame
    /// callback before the next frame is even looked at), waiting again and allocating its wait each time; woken per batch
    /// it takes the batch's messages in one go. Code running on this thread (an inline handler) asks to yield to the
    /// reader: it continues after the next poll.
    /// </summary>
    public void WakeAfterBatch(IBatchWake call)
    {
        Debug.Assert(IsCurrentReader, "only the connection's reader thread wakes after its batches");
        _wakes.Add(call);
    }

    private void RunWakes()
    {
        // A wake may run the woken code inline (InlineCompletions, inline handlers), and that code may ask again (a handler
        // yielding once more): it lands in the other list, for after the next poll, so every frame is read in between.
        var running = _wakes;
        _wakes = _running;
        _running = running;
        try
        {
            for (var i = 0; i < running.Count; i++)
            {
                running[i].OnBatchEnd();
            }
        }
        finally
        {
            running.Clear();
        }
    }

    /// <summary>
    /// A Message frame that holds a whole message (first and last chunk, its announced length exactly what follows,
    /// within <paramref name="maxLength"/>), while the call gathers no other: its bytes in place, in the ring. False for
    /// anything else (chunks of a larger message, a message over the limit, a malformed frame), which
    /// <see cref="MessageAssembler"/> handles and reports as before.
    /// </summary>
    public static bool TryTakeWholeMessage(FrameFlags flags, ReadOnlySpan<byte> body, int maxLength, bool assemblerIdle, out ReadOnlySpan<byte> payload)
    {
        const FrameFlags Whole = FrameFlags.First | FrameFlags.Last;
        if ((flags & Whole) == Whole && assemblerIdle && body.Length >= 4)
        {
            // Read once from the ring: the peer could change it under us, so the bound below holds for what we use.
            var total = BinaryPrimitives.ReadUInt32LittleEndian(body);
            if (total == (uint)(body.Length - 4) && total <= (uint)maxLength)
            {
                payload = body[4..];
                return true;
            }
        }
        payload = default;
        return false;
    }

    /// <summary>Ends the connection once: every call learns why (<see cref="OnClosed"/>), and the channel is closed.</summary>
    protected void Close(Exception reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }
        try
        {
            OnClosed(reason);
        }
        finally
        {
            _channel.Dispose();
            WakeQueuedSender();
        }
    }

    /// <summary>Closes the connection; calls in flight end with <c>Unavailable</c> (client) or are cancelled (server).</summary>
    public void Dispose()
    {
        Close(new ObjectDisposedException(GetType().Name, "The connection was disposed."));
        GC.SuppressFinalize(this);
    }

    /// <summary>Parses the fixed header in place and hands the frame on; a frame shorter than the header is a protocol error.</summary>
    private readonly struct FrameHandler(CallConnection connection) : IMessageHandler
    {
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            if (!Frame.TryReadHeader(message, out var type, out var flags, out var streamId))
            {
                throw new InvalidDataException($"A call frame of {message.Length} bytes is shorter than its {Frame.HeaderLength}-byte header (the peer is broken).");
            }
            CallTrace.Mark(CallTrace.Step.Frame);
            connection._framesInBatch++;
            if (message.Length > connection._receiveCheckAbove || (flags & FrameFlags.Continued) != 0 || type == FrameType.Continuation)
            {
                // Rare: a frame longer than one record (or than the header block limit), a piece of a continued frame, or
                // any frame while one is gathered (CallConnection.Continuation.cs).
                connection.OnLongFrame(type, flags, streamId, message[Frame.HeaderLength..]);
                return;
            }
            connection.OnFrame(type, flags, streamId, message[Frame.HeaderLength..]);
        }
    }
}
