using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using IIC.Transport;

namespace IIC.Grpc.Protocol;

// CallConnection, the sends that cannot go at once (round 17): queued, in order, for one asynchronous sender per connection
// that awaits room without a thread.
internal abstract partial class CallConnection
{
    /// <summary>
    /// Sends that could not go at once (the send lock busy, no room, or earlier sends still queued), in order. Only
    /// <see cref="SendQueuedAsync"/> takes them out.
    /// </summary>
    private readonly ConcurrentQueue<QueuedSend> _queue = new();

    /// <summary>
    /// Sends queued and not yet finished by the sender. While it is not 0 only the sender writes into the ring: every other
    /// sender (the fast path, the reader thread) sees it under the send lock and queues (or defers) instead. So frames keep
    /// their order behind a stalled one, and the sender's wait for room (armed on the ring, re-armed by the process's
    /// <see cref="RoomWaiter"/> thread) never races another thread's send on the ring's writer state.
    /// </summary>
    private int _queued;

    /// <summary>How many sends wait in the queue for the connection's sender now (tests: a write that is stuck there).</summary>
    internal int QueuedSends => Volatile.Read(ref _queued);

    private int _senderRunning; // 1 while SendQueuedAsync runs
    private RoomWait? _roomWait; // the sender's one wait for room (made at its first stall)

    /// <summary>
    /// Sends one whole frame (any thread but the reader's): now if it can go at once, else a copy is queued for the
    /// connection's sender and the returned task completes once it went, without a thread waiting meanwhile. Null: it went now.
    /// A frame longer than one record is always queued, and the sender sends it in pieces of one record each
    /// (CallConnection.Continuation.cs), so its waits for room are the sender's as any frame's.
    /// </summary>
    /// <param name="frame">The frame.</param>
    /// <param name="cancellationToken">Ends the wait (queued, or waiting for room): the task is cancelled and nothing of the frame is sent.</param>
    /// <exception cref="IOException">The peer closed or died (also through the task).</exception>
    /// <exception cref="ObjectDisposedException">The connection was disposed (also through the task).</exception>
    /// <exception cref="RpcException"><c>ResourceExhausted</c>: the frame's header block is over <see cref="MaxMetadataSize"/> (nothing was sent).</exception>
    /// <param name="claim">A frame its owner may still take back until it holds room (a client's CallStart): asked by the try at once holding room (round 24), told before it is queued (not queued when it was taken back: the task fails with nothing sent), and asked by the sender once it holds room for the first byte; null for any other frame.</param>
    public Task? SendFrameOrQueue(ReadOnlySpan<byte> frame, CancellationToken cancellationToken, IQueuedSendClaim? claim = null)
    {
        Debug.Assert(!IsCurrentReader, "the reader thread defers (SendFrame)");
        var split = frame.Length > _sendCheckAbove && MustSplit(frame);
        if (claim is null)
        {
            if (!split && TryNow(frame))
            {
                return null;
            }
        }
        else
        {
            // Round 24: the owner's word only holding room (TryClaimedHoldingLock), and its frame queued only while it was
            // not taken back; taken back, the task fails at once with nothing of it sent (the owner starts again).
            if (!split)
            {
                switch (TryEnterSendLockBriefly() ? TryClaimedHoldingLock(frame, claim) : ClaimedTry.NotNow)
                {
                    case ClaimedTry.Sent:
                        return null;
                    case ClaimedTry.TakenBack:
                        return Task.FromException(TakenBack());
                }
            }
            if (!claim.OnQueued())
            {
                return Task.FromException(TakenBack());
            }
        }
        return Enqueue(QueuedSend.Copy(frame, observed: true, _channel.MaxClaimLength, cancellationToken, claim));
    }

    /// <summary>
    /// Sends the message serialized in <paramref name="builder"/> (any thread but the reader's) as Message frames of one
    /// chunk each: the chunks that can go at once go now, the rest is queued for the connection's sender with the builder
    /// itself (no copy). Null: every chunk went now and the caller keeps the builder. Else the builder is the connection's
    /// (returned to the pool when done: the caller must not use it again) and the task completes once the last chunk went.
    /// </summary>
    /// <param name="builder">The serialized message behind room for a first chunk header.</param>
    /// <param name="streamId">The call.</param>
    /// <param name="endStream">Whether the last chunk carries EndStream.</param>
    /// <param name="cancellationToken">Ends a wait (queued, or for room): the task is cancelled and the rest is not sent (the peer drops the torn message with its call).</param>
    /// <exception cref="IOException">The peer closed or died (also through the task).</exception>
    /// <exception cref="ObjectDisposedException">The connection was disposed (also through the task).</exception>
    public Task? SendMessageOrQueue(FrameBuilder builder, uint streamId, bool endStream, CancellationToken cancellationToken)
    {
        Debug.Assert(!IsCurrentReader, "the reader thread defers (SendMessage)");
        var cursor = new ChunkCursor(builder.Buffer, builder.Length, streamId, endStream, _chunkData);
        do
        {
            var (start, length) = cursor.Prepare();
            if (!TryNow(builder.Buffer.AsSpan(start, length)))
            {
                return Enqueue(QueuedSend.Message(builder, cursor, cancellationToken));
            }
        }
        while (cursor.Advance());
        return null;
    }

    /// <summary>
    /// A sender that must wait (not the reader thread) and that waits on its own thread: queues a copy of
    /// <paramref name="frame"/> and blocks until the connection's sender sent it. The client's call start and request
    /// writes (sent on the caller's thread); every wait for room is the sender's, so the ring has one waiting writer.
    /// </summary>
    private void SendQueuedAndWait(ReadOnlySpan<byte> frame, CancellationToken cancellationToken)
        => Enqueue(QueuedSend.Copy(frame, observed: true, _channel.MaxClaimLength, cancellationToken)).GetAwaiter().GetResult();

    /// <summary>Queues a frame nobody waits for (a Cancel, a HalfClose, trailers): sent in order by the connection's sender; dropped if the connection ends.</summary>
    private void QueueUnobserved(ReadOnlySpan<byte> frame) => Enqueue(QueuedSend.Copy(frame, observed: false, _channel.MaxClaimLength, default));

    /// <summary>
    /// Reader thread: hands a frame longer than one record (in <paramref name="rented"/>, which the send then owns) to the
    /// connection's sender, which sends its pieces in order with the other queued frames; the task completes once the last
    /// piece went (or fails when the connection ended first).
    /// </summary>
    private Task QueueAdopted(byte[] rented, int length) => Enqueue(QueuedSend.Adopt(rented, length, _channel.MaxClaimLength));

    private Task Enqueue(QueuedSend item)
    {
        // Registered before it is queued (so the sender, which disposes the registration, sees it): a token already
        // cancelled completes it here, at once, and the sender skips it.
        item.RegisterCancellation();
        var task = item.Task;
        Interlocked.Increment(ref _queued);
        _queue.Enqueue(item);
        if (Interlocked.Exchange(ref _senderRunning, 1) == 0)
        {
            // On the pool, never on this thread: it may be the one ending a call (Dispose, a token's callback, Finish).
            ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.SendQueuedAsync(), this, preferLocal: false);
        }
        return task;
    }

    /// <summary>
    /// The connection's sender: sends the queued frames in order. When the ring is full it awaits room on the process's
    /// <see cref="RoomWaiter"/> thread (the peer's reader rings it when it returns space), holding no thread; a queued
    /// send whose token fires stops (the rest of it is not sent). It runs while there is something queued.
    /// </summary>
    private async Task SendQueuedAsync()
    {
        while (true)
        {
            while (_queue.TryPeek(out var item))
            {
                Exception? error = null;
                if (item.TryStart())
                {
                    try
                    {
                        await SendItemAsync(item).ConfigureAwait(false);
                    }
#pragma warning disable CA1031 // whatever ended the send is the sender's task's outcome (the connection's end, its token, a ring fault)
                    catch (Exception e)
                    {
                        NoteSendFailure(e);
                        error = e;
                    }
#pragma warning restore CA1031
                }
                _queue.TryDequeue(out _);
                Interlocked.Decrement(ref _queued); // before the waiter continues: its next send may go at once
                item.Finish(error);
            }
            Volatile.Write(ref _senderRunning, 0);
            // A send queued after the last TryPeek but before the flag was cleared found it set: take it on here.
            if (_queue.IsEmpty || Interlocked.Exchange(ref _senderRunning, 1) != 0)
            {
                return;
            }
        }
    }

    private async ValueTask SendItemAsync(QueuedSend item)
    {
        while (true)
        {
            // Every frame is one record at most (a longer one is sent in pieces: CallConnection.Continuation.cs), so every
            // wait for room is this one, holding no thread, on the stall clock.
            var (start, length) = item.Prepare();
            var frame = item.Buffer.AsSpan(start, length);
            if (item.Claim is { } claim ? TrySendClaimed(frame, claim, item) : TrySendQueued(frame))
            {
                _stallStart = 0; // the peer took bytes since the ring was last found full (or it never was)
                if (!item.Advance())
                {
                    return;
                }
            }
            else
            {
                // Completes when the record fits, the channel ended (the next try says how) or the token fired.
                var token = item.WaitToken;
                await WaitForRoomAsync(length, token).ConfigureAwait(false);
                token.ThrowIfCancellationRequested(); // the same frame again, unless its call ended
            }
        }
    }

    /// <summary>
    /// How long the sender may wait for room while the peer takes nothing from the ring before <see cref="OnSendStalled"/>
    /// ends the connection; null: it waits as long as the send's token lets it (the client's side, as SocketsHttpHandler).
    /// </summary>
    protected virtual TimeSpan? SendStallTimeout => null;

    /// <summary>
    /// The sender waited <paramref name="stalled"/> for room and the peer took nothing meanwhile (more than
    /// <see cref="SendStallTimeout"/>): closes the connection (<see cref="Close"/>). On the sender's pool thread, which
    /// then fails the send it was waiting with (<see cref="OperationCanceledException"/>) and the queued ones with the
    /// closed channel's exception.
    /// </summary>
    protected virtual void OnSendStalled(TimeSpan stalled)
    {
    }

    private long _stallStart; // sender only: when it found the ring full and the peer has taken nothing since (0: not stalled)
    private long _stallOccupancy; // sender only: the ring's occupancy then (a change is the peer's progress)

    /// <summary>
    /// The sender's wait for room for a record of <paramref name="length"/> bytes: ends when it fits, the channel ended (the
    /// next try says how) or <paramref name="token"/> fired. With a <see cref="SendStallTimeout"/>, a timer runs while it
    /// waits (only then: the fast path has none): when the peer has taken nothing for that long the connection is closed
    /// (<see cref="OnSendStalled"/>) and the wait throws <see cref="OperationCanceledException"/>. Any progress of the peer
    /// (a send that went, the ring's occupancy changed) restarts the clock.
    /// </summary>
    private ValueTask WaitForRoomAsync(int length, CancellationToken token)
    {
        var wait = _roomWait ??= new RoomWait(_channel.Endpoint, CancellationToken.None);
        return SendStallTimeout is not { } timeout || IsClosed
            ? wait.WaitAsync(length, token) // as before round 17's stall limit: the client, or a server without the limit
            : WaitForRoomTimedAsync(wait, length, timeout, token);
    }

    private async ValueTask WaitForRoomTimedAsync(RoomWait wait, int length, TimeSpan timeout, CancellationToken token)
    {
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            var occupancy = _channel.ReadOutgoingOccupancy();
            if (_stallStart == 0 || occupancy != _stallOccupancy)
            {
                _stallStart = now;
                _stallOccupancy = occupancy;
            }
            var stalled = Stopwatch.GetElapsedTime(_stallStart, now);
            if (stalled >= timeout)
            {
                token.ThrowIfCancellationRequested();
                _stallStart = 0;
                OnSendStalled(stalled);
                throw new OperationCanceledException($"The connection was closed: its peer read nothing for {stalled.TotalSeconds:0.###} s while this side waited to send (the stall limit is {timeout.TotalSeconds:0.###} s).");
            }
            // Only while stalled (the fast path never comes here): a linked source whose timer ends this wait to look again.
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(token);
            timer.CancelAfter(timeout - stalled);
            try
            {
                await wait.WaitAsync(length, timer.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                // The timer: the peer may have taken bytes meanwhile (not yet room for this record); look again.
            }
        }
    }

    /// <summary>
    /// The sender's try: the send lock (its other holders only copy a record, or see <see cref="_queued"/> and leave: none
    /// waits for room holding it), then room. False: no room now.
    /// </summary>
    private bool TrySendQueued(ReadOnlySpan<byte> frame)
    {
        if (!_sendLock.TryEnter())
        {
            var spinner = default(SpinWait);
            do
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            while (!_sendLock.TryEnter());
        }
        try
        {
            return _channel.TrySend(frame);
        }
        finally
        {
            _sendLock.Exit();
        }
    }

    /// <summary>The connection ended: a sender waiting for room looks now rather than at the waiter's next 10 ms round.</summary>
    private void WakeQueuedSender()
    {
        if (Volatile.Read(ref _roomWait) is not null)
        {
            RoomWaiter.Wake();
        }
    }

    /// <summary>
    /// The chunks of one serialized message (a builder's buffer: <c>[first chunk header][message]</c>): each chunk's
    /// header is written over the tail of the chunk sent before it, so no chunk is copied.
    /// </summary>
    private struct ChunkCursor(byte[] buffer, int end, uint streamId, bool endStream, int chunkData)
    {
        private int _data = Frame.FirstChunkHeaderLength; // where the current chunk's bytes start
        private bool _first = true;

        /// <summary>Writes the current chunk's header (again, if it is retried: the bytes are the same) and returns the frame.</summary>
        public readonly (int Start, int Length) Prepare()
        {
            var chunk = Math.Min(end - _data, chunkData);
            var endFlag = endStream ? FrameFlags.EndStream : FrameFlags.None;
            var last = _data + chunk == end ? FrameFlags.Last | endFlag : FrameFlags.None;
            if (_first)
            {
                Frame.WriteHeader(buffer, FrameType.Message, FrameFlags.First | last, streamId);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(Frame.HeaderLength), (uint)(end - Frame.FirstChunkHeaderLength));
                return (0, Frame.FirstChunkHeaderLength + chunk);
            }
            var start = _data - Frame.HeaderLength; // the previous chunk's last bytes, already in the ring
            Frame.WriteHeader(buffer.AsSpan(start), FrameType.Message, last, streamId);
            return (start, Frame.HeaderLength + chunk);
        }

        /// <summary>The current chunk went: moves to the next; false when it was the last.</summary>
        public bool Advance()
        {
            _data += Math.Min(end - _data, chunkData);
            _first = false;
            return _data < end;
        }
    }

    /// <summary>
    /// One queued send: a copy of a frame (in a pooled array; one longer than a record goes in pieces, as
    /// <see cref="FrameType.Continuation"/> frames after the first), or the rest of a message in its builder.
    /// </summary>
    private sealed class QueuedSend
    {
        private readonly TaskCompletionSource? _done; // null: nobody waits (the frame is dropped if the connection ends)
        private readonly FrameBuilder? _builder; // a message's builder, returned to the pool when done
        private readonly byte[]? _copy; // a frame's copy, returned to the pool when done
        private readonly int _length; // the copy's length
        private readonly int _record; // a copy: the most bytes of one record (a longer copy goes in pieces)
        private int _piece; // a copy in pieces: where the current piece's bytes start (0: the first piece, the frame's own header)
        private ChunkCursor _cursor; // a message's chunks
        private CancellationTokenRegistration _registration;
        private int _state; // 0 queued, 1 started by the sender, 2 cancelled while queued

        private QueuedSend(TaskCompletionSource? done, FrameBuilder? builder, byte[]? copy, int length, int record, ChunkCursor cursor, CancellationToken token, IQueuedSendClaim? claim = null)
        {
            Claim = claim;
            _done = done;
            _builder = builder;
            _copy = copy;
            _length = length;
            _record = record;
            _cursor = cursor;
            Token = token;
        }

        public static QueuedSend Copy(ReadOnlySpan<byte> frame, bool observed, int record, CancellationToken token, IQueuedSendClaim? claim = null)
        {
            var copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, frame.Length));
            frame.CopyTo(copy);
            return new QueuedSend(observed ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null, null, copy, frame.Length, record, default, token, claim);
        }

        /// <summary>Whose word its first record waits for (<see cref="TrySendClaimed"/>); null once given, or for a frame nobody can take back. Sender only.</summary>
        public IQueuedSendClaim? Claim { get; set; }

        /// <summary>A frame already in a rented array (the reader thread's deferred copy), which this send now owns.</summary>
        public static QueuedSend Adopt(byte[] rented, int length, int record)
            => new(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null, rented, length, record, default, default);

        public static QueuedSend Message(FrameBuilder builder, ChunkCursor cursor, CancellationToken token)
            => new(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), builder, null, 0, 0, cursor, token);

        public CancellationToken Token { get; }

        /// <summary>
        /// The token a wait for room ends with: <see cref="Token"/>, but none once the first piece of a frame sent in pieces
        /// went. The receiver gathers the pieces and allows no other frame in between (docs/grpc-call-protocol.md, 2.9), so
        /// a frame cut short would end the whole connection; its call's end does not stop it (the connection's does).
        /// </summary>
        public CancellationToken WaitToken => _piece == 0 ? Token : CancellationToken.None;

        public Task Task => _done?.Task ?? Task.CompletedTask;

        /// <summary>The array the current frame lies in.</summary>
        public byte[] Buffer => _builder?.Buffer ?? _copy!;

        /// <summary>The current frame (its header written).</summary>
        public (int Start, int Length) Prepare()
        {
            if (_builder is not null)
            {
                return _cursor.Prepare();
            }
            if (_length <= _record)
            {
                return (0, _length);
            }
            if (_piece == 0)
            {
                // The frame's own header and first bytes, marked continued (its stream id stays in bytes 2..5: later pieces'
                // headers are written further on, over bytes already sent).
                _copy![1] |= (byte)FrameFlags.Continued;
                return (0, _record);
            }
            // A Continuation: its header over the last bytes of the piece already sent (no copy), the same bytes if retried.
            var take = Math.Min(_length - _piece, _record - Frame.HeaderLength);
            var start = _piece - Frame.HeaderLength;
            var streamId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_copy.AsSpan(2));
            Frame.WriteHeader(_copy.AsSpan(start), FrameType.Continuation, _piece + take < _length ? FrameFlags.Continued : FrameFlags.None, streamId);
            return (start, Frame.HeaderLength + take);
        }

        /// <summary>The current frame went: false when it was the last.</summary>
        public bool Advance()
        {
            if (_builder is not null)
            {
                return _cursor.Advance();
            }
            if (_length <= _record)
            {
                return false;
            }
            _piece = _piece == 0 ? _record : _piece + Math.Min(_length - _piece, _record - Frame.HeaderLength);
            return _piece < _length;
        }

        /// <summary>Registers the token: cancelled while still queued, the send completes at once (cancelled) and the sender skips it.</summary>
        public void RegisterCancellation()
        {
            if (Token.CanBeCanceled)
            {
                _registration = Token.UnsafeRegister(static s => ((QueuedSend)s!).CancelQueued(), this);
            }
        }

        private void CancelQueued()
        {
            if (Interlocked.CompareExchange(ref _state, 2, 0) == 0)
            {
                _done?.TrySetCanceled(Token);
            }
        }

        /// <summary>The sender takes it: false when it was cancelled while queued.</summary>
        public bool TryStart() => Interlocked.CompareExchange(ref _state, 1, 0) == 0;

        /// <summary>The sender is done with it (sent, failed, or skipped): completes its task and gives its buffer back.</summary>
        public void Finish(Exception? error)
        {
            _registration.Dispose(); // waits for a callback running now, which only completes the task
            if (_builder is not null)
            {
                FrameBuilder.Return(_builder);
            }
            if (_copy is not null)
            {
                ArrayPool<byte>.Shared.Return(_copy);
            }
            if (_done is null)
            {
                return;
            }
            switch (error)
            {
                case null:
                    _done.TrySetResult();
                    break;
                case OperationCanceledException when Token.IsCancellationRequested:
                    _done.TrySetCanceled(Token);
                    break;
                default:
                    _done.TrySetException(error);
                    break;
            }
        }
    }
}
