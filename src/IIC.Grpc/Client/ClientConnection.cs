using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Grpc.Client;

/// <summary>
/// The client end of one channel: numbers calls (stream ids), keeps those in flight, and its reader thread hands each
/// server frame to its call. When the channel ends (server gone or killed) every call in flight ends with
/// <c>Unavailable</c> at once.
/// </summary>
internal sealed class ClientConnection : CallConnection
{
    private readonly CallRegistry _calls;
    private readonly int _maxReceive;

    /// <param name="channel">The connection's channel (the connection owns it).</param>
    /// <param name="maxReceive">The largest response message accepted.</param>
    /// <param name="inlineCompletions">Whether calls complete on the reader thread.</param>
    /// <param name="pool">What the invoker's connections share when it has more than one (null: one).</param>
    /// <param name="maxMetadataSize">The largest header or trailer block accepted (IicGrpcClientOptions.MaxMetadataSize).</param>
    public ClientConnection(IicChannel channel, int maxReceive, bool inlineCompletions, CallPool? pool, int maxMetadataSize = DefaultMaxMetadataSize)
        : base(channel, "iic-grpc-client", maxMetadataSize)
    {
        _calls = new CallRegistry(this, pool);
        _maxReceive = maxReceive;
        InlineCompletions = inlineCompletions;
        StartReader();
    }

    public bool InlineCompletions { get; }

    /// <summary>
    /// The invoker that made the connection, where a call that sent nothing on it gets another when it ends (a transparent
    /// retry, ClientCall.Retry.cs); set once, before any call can reach the connection. Null: such a call ends with the connection.
    /// </summary>
    public IicCallInvoker? Invoker { get; set; }

    /// <summary>
    /// Registers a call under a new stream id with one of the connection's slots (the server's limit on calls open at once);
    /// when every slot is taken, with <paramref name="queue"/> the call waits for one (<see cref="CallRegistry.AddResult.Full"/>).
    /// </summary>
    public CallRegistry.AddResult TryAdd(ClientCallBase call, bool queue, out Status closedStatus) => _calls.TryAdd(call, queue, out closedStatus);

    /// <summary>How many calls are registered on this connection now (tests).</summary>
    internal int CallsInFlight => _calls.Count;

    /// <summary>How many calls wait for a slot on this connection now (tests).</summary>
    internal int CallsWaiting => _calls.Waiting;

    /// <summary>How many calls hold one of this connection's slots now, also once it ended (tests).</summary>
    internal uint SlotsHeld => _calls.Open;

    /// <summary>The server's limit on calls open at once, as this connection knows it (tests).</summary>
    internal uint MaxConcurrentCalls => _calls.Limit;

    /// <summary>Forgets a call that ended (any thread; idempotent).</summary>
    public void Remove(ClientCallBase call) => _calls.Remove(call);

    /// <summary>
    /// Gives back a call's slot (the server counts it no more); the first waiting call starts in its place. The last call of
    /// a connection the server asked to drain (GoAway) closes it.
    /// </summary>
    public void Release(ClientCallBase call)
    {
        if (_calls.Release(call))
        {
            CloseDrained();
        }
    }

    private int _draining; // 1 once the server's GoAway was read (reader thread writes; any thread reads)

    /// <summary>
    /// Whether the server asked for no more calls on this connection (GoAway: it is stopping gracefully). The calls it has
    /// go on; the invoker starts new ones on another connection, and this one closes once its calls ended.
    /// </summary>
    public bool IsDraining => Volatile.Read(ref _draining) != 0;

    /// <summary>Why a drained connection closed (its calls all ended after the server's GoAway).</summary>
    private sealed class DrainedException() : IOException("The server stopped gracefully (GoAway) and every call on this connection ended.");

    /// <summary>
    /// Closes a connection whose calls all ended after the server's GoAway: the server sees the client close and forgets
    /// it. On the pool: this may run on the reader thread (a call's trailers), which must not close its channel mid-poll.
    /// </summary>
    private void CloseDrained()
        => ThreadPool.UnsafeQueueUserWorkItem(static connection => connection.Close(new DrainedException()), this, preferLocal: false);

    /// <summary>Takes a call that ended while it waited for a slot out of the queue; whether it was there.</summary>
    public bool Unqueue(ClientCallBase call) => _calls.Unqueue(call);

    /// <summary>
    /// Set once the server's Settings frame was read (or the connection ended): the invoker sends no call before, so a
    /// server whose limit is below <see cref="Frame.InitialMaxConcurrentCalls"/> never sees more than it allows.
    /// </summary>
    private readonly TaskCompletionSource _settingsRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _hasSettings; // written by the reader thread only, before _settingsRead completes
    private string? _closedBecause;

    /// <summary>Why the connection ended, as its calls were told (null while it is open): a connect reports it.</summary>
    public string? ClosedBecause => Volatile.Read(ref _closedBecause);

    private Status _closedStatus;

    /// <summary>
    /// The status the connection's calls were told it ended with. Read only by a call that learned of the end (its start
    /// found <c>OnConnectionLost</c>'s mark, a compare-and-swap made after this was written: ClientCall.Retry.cs); a struct
    /// written once, before any call is told, so that read sees all of it.
    /// </summary>
    public Status ClosedStatus => _closedStatus;

    /// <summary>
    /// Completes (no thread waits: the invoker's connect awaits it) once the server's Settings frame was read: true; false when
    /// the connection ended first or <paramref name="timeout"/> passed (a server that does not speak this protocol version,
    /// or stuck). <paramref name="cancellationToken"/> (the invoker's Dispose) ends it with <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<bool> WaitForSettingsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _settingsRead.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
        // Whether the frame came, not whether the connection still lives: a server that sent it and then closed or drained
        // at once connected (its calls then find the connection ended and start again elsewhere: ClientCall.Retry.cs),
        // and "closed the connection before its Settings frame" would be untrue. _hasSettings was written before the
        // TaskCompletionSource completed, which orders it before this read.
        return _hasSettings;
    }

    /// <summary>
    /// Sends <paramref name="call"/>'s Cancel without waiting on this thread (Dispose, a token's callback, the deadline's
    /// timer, the reader thread), then gives its slot back: only once the Cancel is in the ring, since the server counts the
    /// call until it reads the Cancel, and a CallStart sent earlier for the slot would reach it first and exceed the limit.
    /// Now if it can go at once; else it is queued for the connection's asynchronous sender (CallConnection.Queue.cs, in
    /// order with the other frames that could not go at once, awaiting room without a thread), and the slot goes back once
    /// it went (or the connection ended). The reader thread, which never waits and whose own deferred frames are its queue,
    /// hands it to the pool.
    /// </summary>
    public void SendCancel(ClientCallBase call)
    {
        if (IsCurrentReader)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.Connection.SendCancel(state.Call), (Connection: this, Call: call), preferLocal: false);
            return;
        }
        Span<byte> frame = stackalloc byte[Frame.HeaderLength];
        Frame.WriteHeader(frame, FrameType.Cancel, FrameFlags.None, call.StreamId);
        Task? queued;
        try
        {
            queued = SendFrameOrQueue(frame, CancellationToken.None);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            queued = null; // the connection is gone: the server's calls on it are cancelled anyway
        }
        if (queued is null)
        {
            Release(call);
            return;
        }
        // Whatever the end (sent, or the connection ended first), the server counts the call no more.
        queued.ContinueWith(static (_, state) =>
        {
            var (connection, cancelled) = ((ClientConnection, ClientCallBase))state!;
            connection.Release(cancelled);
        }, (this, call), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    protected override void OnFrame(FrameType type, FrameFlags flags, uint streamId, ReadOnlySpan<byte> body)
    {
        if (!_hasSettings)
        {
            OnFirstFrame(type, streamId, body);
            return;
        }
        // Frames of a call that already ended (cancelled here, say) are dropped: the server had not seen the cancel yet.
        var call = _calls.Find(streamId);
        switch (type)
        {
            case FrameType.Message:
                // A whole small message of a stream is parsed where it lies (no copy); anything else is gathered first.
                if (call is not null
                    && !(TryTakeWholeMessage(flags, body, _maxReceive, call.Assembler.IsIdle, out var whole) && call.TryAddInPlace(whole)))
                {
                    AddChunk(call, flags, body);
                }
                return;
            case FrameType.ResponseHeaders:
            {
                var reader = new FrameReader(body);
                var headers = MetadataCodec.Read(ref reader, shareEmpty: true);
                call?.OnResponseHeaders(headers);
                return;
            }
            case FrameType.Trailers:
            {
                var carried = (flags & FrameFlags.WithMessage) != 0 ? CallConnection.TakeCarriedMessage(body, out body) : default;
                var reader = new FrameReader(body);
                var code = reader.ReadInt32();
                var detail = reader.ReadLongString();
                var trailers = MetadataCodec.Read(ref reader, shareEmpty: true);
                var status = new Status((StatusCode)code, detail);
                if (call is null)
                {
                    return;
                }
                if ((flags & FrameFlags.WithMessage) != 0)
                {
                    // The single response rides in front of the status. Within the limit, a unary call deserializes it
                    // where it lies in the ring (no copy); otherwise it is delivered first, as if a Message frame came.
                    var payload = carried[4..];
                    if (payload.Length <= _maxReceive && call.TryCompleteInPlace(status, trailers, payload))
                    {
                        return;
                    }
                    if (!AddChunk(call, FrameFlags.First | FrameFlags.Last, carried))
                    {
                        return; // over the limit: the call already ended with ResourceExhausted
                    }
                }
                call.OnTrailers(status, trailers);
                return;
            }
            case FrameType.Settings:
                throw new InvalidDataException("A server sent a second Settings frame (the peer is broken: it sends one, first).");
            case FrameType.GoAway:
                // The server is stopping gracefully: no new call goes here (the invoker sees IsDraining); those in flight go
                // on, and the last one to end closes the connection (at once when there is none).
                if (streamId != 0)
                {
                    throw new InvalidDataException($"A server sent GoAway (9) on stream {streamId}, not on stream 0 (the peer is broken).");
                }
                Volatile.Write(ref _draining, 1);
                if (_calls.BeginDrain())
                {
                    CloseDrained();
                }
                return;
            default:
                throw new InvalidDataException($"A server sent a call frame of type {(byte)type}, which only clients send or nobody does (the peer is broken).");
        }
    }

    /// <summary>
    /// The connection's first frame, which must be the server's Settings (stream 0): its limit on calls open at once takes
    /// effect, and the connect waiting for it goes on. Anything else first is a protocol error (a broken peer, or a server of an
    /// earlier protocol version): the connection closes.
    /// </summary>
    private void OnFirstFrame(FrameType type, uint streamId, ReadOnlySpan<byte> body)
    {
        if (type != FrameType.Settings || streamId != 0)
        {
            throw new InvalidDataException($"A server's first frame is of type {(byte)type} on stream {streamId}, not Settings (7) on stream 0 (the peer is broken, or predates protocol version 1's Settings frame).");
        }
        var reader = new FrameReader(body);
        var maxCalls = reader.ReadUInt32();
        if (maxCalls == 0)
        {
            throw new InvalidDataException("A server announced a limit of 0 concurrent calls (the peer is broken: the least is 1).");
        }
        if (reader.Rest.Length >= 4) // a server of round 18 or before sends the call limit alone; later fields are ignored
        {
            var maxHeaderBlock = reader.ReadUInt32();
            if (maxHeaderBlock < MetadataSizeLimit.Minimum)
            {
                throw new InvalidDataException($"A server announced a limit of {maxHeaderBlock} bytes for one header block (the peer is broken: the least is {MetadataSizeLimit.Minimum}).");
            }
            LimitSendsToPeer((int)Math.Min(maxHeaderBlock, int.MaxValue));
            if (reader.Rest.Length >= 4 && (reader.ReadUInt32() & Frame.ReadsClientSettings) != 0)
            {
                SendClientSettings();
            }
        }
        _hasSettings = true;
        _calls.SetLimit(maxCalls);
        _settingsRead.TrySetResult();
    }

    /// <summary>
    /// The server reads a ClientSettings frame (round 22, docs/grpc-call-protocol.md 2.8): this client's limit on one header
    /// block goes to it as the client's first frame, so the server refuses response headers and trailers over it before
    /// sending them. Reader thread, before the connect goes on (so before any CallStart): the ring is new and holds nothing
    /// of this side's yet, so the 10 bytes go at once (else they are deferred, in order, before anything sent later).
    /// </summary>
    private void SendClientSettings()
    {
        Span<byte> frame = stackalloc byte[Frame.HeaderLength + Frame.ClientSettingsBodyLength];
        Frame.WriteClientSettings(frame, MaxMetadataSize);
        SendFrame(frame);
    }

    /// <summary>Adds one chunk to the call's message; false when the message is over the limit (the call ended).</summary>
    private bool AddChunk(ClientCallBase call, FrameFlags flags, ReadOnlySpan<byte> body)
    {
        ReceivedMessage message;
        bool whole;
        try
        {
            whole = call.Assembler.Add(flags, body, _maxReceive, out message);
        }
        catch (MessageLimitException e)
        {
            call.Assembler.Reset();
            call.CompleteLocally(new Status(StatusCode.ResourceExhausted, e.Message));
            return false;
        }
        if (whole)
        {
            call.OnMessage(message);
        }
        return true;
    }

    /// <summary>
    /// Response headers or trailers over this client's MaxMetadataSize (round 19, docs/grpc-call-protocol.md 2.9): that call
    /// ends ResourceExhausted and the connection goes on, as SocketsHttpHandler fails only the response whose headers are
    /// over MaxResponseHeadersLength. The server cannot know the client's limit (no frame announces it), so this is not a
    /// broken peer. A CallStart (which only clients send), or anything before the Settings frame, still is.
    /// </summary>
    protected override bool OnHeaderBlockOverLimit(FrameType type, uint streamId, long length)
    {
        if (!_hasSettings || type is not (FrameType.ResponseHeaders or FrameType.Trailers))
        {
            return false;
        }
        if (_calls.Find(streamId) is not { } call)
        {
            return true; // a call that already ended (cancelled here): its frames are dropped anyway
        }
        var status = new Status(StatusCode.ResourceExhausted,
            $"The server sent {BlockName(type)} of {length} bytes or more, over this client's limit of {MaxMetadataSize} bytes for one header block (IicGrpcClientOptions.MaxMetadataSize): raise that limit, or have the server send less metadata.");
        if (type == FrameType.Trailers)
        {
            call.OnTrailers(status, []); // the server ended the call: its slot is free, nothing to cancel
        }
        else
        {
            call.CompleteLocally(status); // the server goes on with the call: the Cancel tells it to stop
        }
        return true;
    }

    protected override void OnClosed(Exception reason)
    {
        var status = new Status(StatusCode.Unavailable, reason switch
        {
            PeerDeadException => "The server process died (IICFast peer dead).",
            DrainedException => CallRegistry.DrainedStatus.Detail,
            IicChannelClosedException => "The server closed the connection.",
            ObjectDisposedException => "The client's connection was disposed.",
            _ => "The connection to the server failed: " + reason.Message,
        }, reason);
        _closedStatus = status; // before any call is told: a call's start reads it once it saw its OnConnectionLost
        Volatile.Write(ref _closedBecause, status.Detail);
        var inFlight = _calls.Close(status, out var waiting);
        foreach (var call in inFlight)
        {
            call.OnConnectionLost(status);
        }
        if (waiting is not null)
        {
            // They waited for a slot and sent nothing: each starts again on another connection, or ends (ClientCall.Retry.cs).
            foreach (var call in waiting)
            {
                call.OnConnectionEndedUnsent(status);
            }
        }
        _settingsRead.TrySetResult(); // a connect waiting for the Settings frame goes on (and sees the end)
    }
}
