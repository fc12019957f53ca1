using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Transport;

namespace IIC.Grpc.Server;

/// <summary>
/// The server end of one client channel: its reader thread opens calls (CallStart), hands them their request
/// messages, half-closes and cancels; handlers run on the thread pool and send through the shared send side. When
/// the channel ends (the client closed or died) every call on it is cancelled.
/// </summary>
internal sealed class ServerConnection : CallConnection
{
    private readonly Dictionary<string, ServerMethod>.AlternateLookup<ReadOnlySpan<char>> _methods;
    private readonly ServerCallRegistry<ServerCallBase> _calls = new();
    private readonly int _maxReceive;
    private readonly ServerLog _log;

    /// <summary>The server's log (its calls report what they cannot throw to anyone).</summary>
    internal ServerLog Log => _log;
    private readonly Action<ServerConnection> _onClosed;
    private ServerMethod? _lastMethod; // the method the last call opened named (reader thread only)
    private readonly uint _maxCalls;
    private readonly TimeSpan? _stallTimeout;
    private static long s_lastId;

    /// <summary>
    /// The reason the connection is closed with when its client read nothing for longer than the stall timeout (the log
    /// then says so once, in <see cref="OnClosed"/>).
    /// </summary>
    private sealed class ResponseStallException(string message) : TimeoutException(message);

    /// <summary>
    /// The calls the client considers open (its limit counts them): +1 when a CallStart opens one (reader thread), -1 once
    /// when it ends here, before its Trailers go into the ring, or when the client's Cancel is read. So this never exceeds
    /// the client's own count when a CallStart is read (the frames of one direction are in order), and a CallStart that
    /// finds it at the announced limit comes from a client that ignores the limit.
    /// </summary>
    private int _open;

    public ServerConnection(IicChannel channel, string serviceName, IReadOnlyDictionary<string, ServerMethod> methods, int maxReceive, uint maxCalls, TimeSpan? stallTimeout, ServerLog log, Action<ServerConnection> onClosed, int maxMetadataSize = DefaultMaxMetadataSize)
        : base(channel, "iic-grpc-server", maxMetadataSize)
    {
        _maxCalls = maxCalls;
        _stallTimeout = stallTimeout;
        ServiceName = serviceName;
        // Looked up by the name's characters, decoded on the stack: opening a call makes no string for its method name.
        _methods = (methods as Dictionary<string, ServerMethod> ?? new Dictionary<string, ServerMethod>(methods, StringComparer.Ordinal)).GetAlternateLookup<ReadOnlySpan<char>>();
        _maxReceive = maxReceive;
        _log = log;
        _onClosed = onClosed;
        // The first frame of the connection, before the reader starts (so before any call's frame): the limits the client
        // honours (calls open at once, and the largest header block this side accepts). The ring is new and empty, so this never waits; a client gone already makes it throw (the connection
        // then ends at once: the reader meets the closed channel).
        Span<byte> settings = stackalloc byte[Frame.HeaderLength + Frame.SettingsBodyLength];
        Frame.WriteSettings(settings, maxCalls, maxMetadataSize);
        try
        {
            SendFrame(settings);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            // The reader thread sees the channel's end and closes the connection.
        }
        StartReader();
    }

    /// <summary>How many calls the client has open on this connection as the server counts them (tests).</summary>
    internal int OpenCalls => Volatile.Read(ref _open);

    public string ServiceName { get; }

    /// <summary>This connection's number in the process (the log names it).</summary>
    public long Id { get; } = Interlocked.Increment(ref s_lastId);

    /// <summary>IicGrpcServerOptions.ResponseStallTimeout: how long the connection's sender waits for a client that reads nothing.</summary>
    protected override TimeSpan? SendStallTimeout => _stallTimeout;

    /// <summary>
    /// The client read nothing for longer than the stall timeout while responses waited for room: the connection is closed,
    /// as Kestrel closes one whose client does not read responses at MinResponseDataRate. Every call on it ends (handlers'
    /// tokens fire), and the memory its queued writes held is given back.
    /// </summary>
    protected override void OnSendStalled(TimeSpan stalled)
        => Close(new ResponseStallException($"The client of connection {Id} read nothing of the responses for {stalled.TotalSeconds:0.###} s (IicGrpcServerOptions.ResponseStallTimeout {_stallTimeout!.Value.TotalSeconds:0.###} s): the connection was closed."));

    /// <summary>
    /// The server stops gracefully (<see cref="IicGrpcServer.StopAsync"/>): tells the client to start no more calls here
    /// (the GoAway frame, docs/grpc-call-protocol.md 2.10). The calls it has, and any CallStart already on its way, are
    /// served as before; the client closes the connection once its calls ended. Sent without waiting on this thread (queued
    /// for the connection's sender when the ring is full); nothing to do when the connection already ended.
    /// </summary>
    public void BeginDrain()
    {
        try
        {
            SendEmptyFrameWithoutWaiting(FrameType.GoAway, 0);
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            // The client went away meanwhile: the connection is ending anyway.
        }
    }

    /// <summary>
    /// Forgets a call that ended (any thread; idempotent), and stops counting it as open: its trailers go after this (or the
    /// client cancelled it), so the client may open another in its place. Lock-free.
    /// </summary>
    public void Remove(ServerCallBase call)
    {
        _calls.Remove(call);
        if (Volatile.Read(ref call.CountsAsOpen) != 0 && Interlocked.Exchange(ref call.CountsAsOpen, 0) != 0)
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private ServerCallBase? Find(uint streamId) => _calls.Find(streamId);

    private bool _sawCallStart; // reader thread only: a CallStart was read (a ClientSettings frame may only come before)
    private bool _sawClientSettings; // reader thread only

    /// <summary>
    /// The client's ClientSettings frame (round 22, docs/grpc-call-protocol.md 2.8), which this server's Settings frame
    /// invited: its limit on one header block, from here the most this side sends (<see cref="CallConnection.LimitSendsToPeer"/>),
    /// so response headers and trailers over it are refused before anything of them is sent, naming the client's option.
    /// Read once from the ring and validated: not on stream 0, a second one, one after a CallStart, a body shorter than
    /// its field or a limit below 1024 is a broken client (a protocol error: the connection closes).
    /// </summary>
    private void OnClientSettings(uint streamId, ReadOnlySpan<byte> body)
    {
        if (streamId != 0 || _sawClientSettings || _sawCallStart || body.Length < Frame.ClientSettingsBodyLength)
        {
            throw new InvalidDataException($"A client sent a ClientSettings frame on stream {streamId} of {body.Length} bytes{(_sawClientSettings ? ", a second one" : "")}{(_sawCallStart ? ", after a CallStart" : "")}: it comes once, first, on stream 0, with at least {Frame.ClientSettingsBodyLength} bytes (the peer is broken).");
        }
        _sawClientSettings = true;
        var maxHeaderBlock = new FrameReader(body).ReadUInt32(); // later fields, if any, are ignored
        if (maxHeaderBlock < MetadataSizeLimit.Minimum)
        {
            throw new InvalidDataException($"A client announced a limit of {maxHeaderBlock} bytes for one header block (the peer is broken: the least is {MetadataSizeLimit.Minimum}).");
        }
        LimitSendsToPeer((int)Math.Min(maxHeaderBlock, int.MaxValue));
    }

    protected override string PeerLimitSource => "the client accepts in one header block (its IicGrpcClientOptions.MaxMetadataSize, announced when the connection opened)";

    protected override string PeerName => "client";

    protected override void OnFrame(FrameType type, FrameFlags flags, uint streamId, ReadOnlySpan<byte> body)
    {
        switch (type)
        {
            case FrameType.CallStart:
            {
                _sawCallStart = true; // a ClientSettings frame after this is a protocol error (OnClientSettings)
                var carried = (flags & FrameFlags.WithMessage) != 0 ? CallConnection.TakeCarriedMessage(body, out body) : default;
                var call = StartCall(streamId, body);
                CallTrace.Mark(CallTrace.Step.ServerCallOpened);
                if (call is not null && (flags & FrameFlags.WithMessage) != 0)
                {
                    // The request rode in the CallStart frame: within the limit, an inline unary or server streaming
                    // handler gets it deserialized where it lies in the ring; otherwise it is handed over as if its
                    // Message frame came next.
                    var payload = carried[4..];
                    if (payload.Length > _maxReceive || !call.TryStartInPlace(payload))
                    {
                        AddChunk(call, FrameFlags.First | FrameFlags.Last | (flags & FrameFlags.EndStream), carried);
                    }
                }
                return;
            }
            case FrameType.Message:
            {
                var call = Find(streamId);
                // A call that already ended is not found (the client had not seen its trailers yet). A whole small message
                // of a request stream is parsed where it lies (no copy); anything else is gathered first.
                if (call is not null
                    && !(TryTakeWholeMessage(flags, body, _maxReceive, call.Assembler.IsIdle, out var payload)
                        && call.TryAddInPlace(payload, (flags & FrameFlags.EndStream) != 0)))
                {
                    AddChunk(call, flags, body);
                }
                return;
            }
            case FrameType.HalfClose:
                Find(streamId)?.OnHalfClose();
                return;
            case FrameType.Cancel:
            {
                var call = Find(streamId);
                if (call is not null)
                {
                    Remove(call);
                    call.OnClientGone();
                }
                return;
            }
            case FrameType.ClientSettings:
                OnClientSettings(streamId, body);
                return;
            default:
                throw new InvalidDataException($"A client sent a call frame of type {(byte)type}, which only servers send or nobody does (the peer is broken).");
        }
    }

    private void AddChunk(ServerCallBase call, FrameFlags flags, ReadOnlySpan<byte> body)
    {
        try
        {
            if (call.Assembler.Add(flags, body, _maxReceive, out var message))
            {
                call.OnMessage(message, (flags & FrameFlags.EndStream) != 0);
            }
        }
        catch (MessageLimitException e)
        {
            Refuse(call, new Status(StatusCode.ResourceExhausted, e.Message));
        }
    }

    private bool TryFindMethod(ReadOnlySpan<byte> utf8Name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ServerMethod? method)
    {
        // A connection mostly opens calls of one method after another: the last one's UTF-8 name is compared first, which
        // after an idle gap touches far less code and data than decoding the name and hashing it into the table
        // (perf/RESULTS.md, "Round 8, branch native"). Equal bytes are the same name: the table is keyed by exact names.
        if (_lastMethod is { } last && utf8Name.SequenceEqual(last.Utf8FullName))
        {
            method = last;
            return true;
        }
        const int StackLimit = 512;
        bool found;
        if (utf8Name.Length > StackLimit)
        {
            found = _methods.TryGetValue(System.Text.Encoding.UTF8.GetString(utf8Name), out method);
        }
        else
        {
            Span<char> name = stackalloc char[StackLimit]; // UTF-8 never decodes to more chars than bytes
            var length = System.Text.Encoding.UTF8.GetChars(utf8Name, name);
            found = _methods.TryGetValue(name[..length], out method);
        }
        if (found)
        {
            _lastMethod = method;
        }
        return found;
    }

    /// <summary>Opens a call; null when the method is unknown (answered with Unimplemented).</summary>
    private ServerCallBase? StartCall(uint streamId, ReadOnlySpan<byte> body)
    {
        var reader = new FrameReader(body);
        var timeout = reader.ReadInt64();
        var methodName = reader.ReadShortStringBytes();
        var headers = MetadataCodec.Read(ref reader, shareEmpty: true); // the call makes its own empty set only if asked
        if ((uint)Volatile.Read(ref _open) >= _maxCalls)
        {
            // A client that honours the Settings frame never gets here (its count is never below ours): this one ignores the
            // limit, and each call it opens would hold a handler or a queued Trailers frame. Bounded memory: the connection
            // is closed as a protocol error (every call on it ends), as Kestrel ends a client that keeps opening streams.
            throw new InvalidDataException($"A client opened stream {streamId} while {_maxCalls} calls were open on its connection, the limit this server announced (IicGrpcServerOptions.MaxConcurrentCallsPerConnection; the client ignores the limit).");
        }
        if (!TryFindMethod(methodName, out var method))
        {
            SendTrailersOnly(streamId, new Status(StatusCode.Unimplemented, $"Method {System.Text.Encoding.UTF8.GetString(methodName)} is unimplemented on IICFast service '{ServiceName}'."));
            return null;
        }
        var call = method.CreateCall(this, streamId, headers, timeout);
        call.Telemetry = IIC.Grpc.Telemetry.ServerCallTelemetry.Begin(method.FullName, headers);
        call.CountsAsOpen = 1;
        Interlocked.Increment(ref _open); // before the add: a Finish racing it decrements only a counted call
        switch (_calls.TryAdd(call))
        {
            case ServerCallRegistry.AddResult.Duplicate:
                throw new InvalidDataException($"A client opened stream {streamId} twice (the peer is broken).");
            case ServerCallRegistry.AddResult.Collision:
                throw new InvalidDataException($"A client opened stream {streamId} while another open stream has the same low 20 bits (the peer is broken: docs/grpc-call-protocol.md, stream ids).");
            case ServerCallRegistry.AddResult.Closed:
                call.Telemetry?.End(new Status(StatusCode.Unavailable, "The connection ended."));
                call.OnClientGone(); // the connection is ending: the call never runs its handler to completion
                return null;
        }
        if (!method.StartsWithRequest)
        {
            call.Launch();
        }
        return call;
    }

    /// <summary>Ends a call before its handler runs (or while it runs) with <paramref name="status"/>.</summary>
    private void Refuse(ServerCallBase call, Status status)
    {
        call.Telemetry?.End(status);
        call.Assembler.Reset();
        Remove(call);
        SendTrailersOnly(call.StreamId, status);
        call.OnClientGone(); // the handler, if it runs, is cancelled and sends nothing more
    }

    private void SendTrailersOnly(uint streamId, Status status)
    {
        var builder = FrameBuilder.Rent();
        try
        {
            Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.Trailers, FrameFlags.None, streamId);
            builder.WriteInt32((int)status.StatusCode);
            builder.WriteLongString(status.Detail);
            MetadataCodec.Write(builder, null);
            SendFrame(builder.Written);
        }
        catch (RpcException) when (status.Detail.Length > 256)
        {
            // The detail (an Unimplemented method's name, as long as the client sent it) made the block longer than
            // MaxMetadataSize (at least 1 KiB): the same status with the detail cut, rather than an exception on the reader
            // thread (which would close the connection).
            SendTrailersOnly(streamId, new Status(status.StatusCode, status.Detail[..256] + "..."));
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }

    protected override void OnClosed(Exception reason)
    {
        if (reason is InvalidDataException)
        {
            _log.ProtocolError(reason, ServiceName);
        }
        else if (reason is ResponseStallException)
        {
            _log.ResponseStalled(Id, ServiceName, _stallTimeout!.Value.TotalSeconds);
        }
        else
        {
            _log.Disconnected(ServiceName, reason.Message);
        }
        foreach (var call in _calls.Close())
        {
            call.OnClientGone();
        }
        _onClosed(this);
    }
}
