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
    private readonly CallRegistry _calls = new();
    private readonly int _maxReceive;

    public ClientConnection(IicChannel channel, int maxReceive, bool inlineCompletions)
        : base(channel, "iic-grpc-client")
    {
        _maxReceive = maxReceive;
        InlineCompletions = inlineCompletions;
        StartReader();
    }

    public bool InlineCompletions { get; }

    /// <summary>Registers a call under a new stream id; false (with the reason) when the connection already ended.</summary>
    public bool TryAdd(ClientCallBase call, out uint streamId, out Status closedStatus) => _calls.TryAdd(call, out streamId, out closedStatus);

    /// <summary>How many calls are registered on this connection now (tests).</summary>
    internal int CallsInFlight => _calls.Count;

    /// <summary>Forgets a call that ended (any thread; idempotent).</summary>
    public void Remove(ClientCallBase call) => _calls.Remove(call);

    protected override void OnFrame(FrameType type, FrameFlags flags, uint streamId, ReadOnlySpan<byte> body)
    {
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
            default:
                throw new InvalidDataException($"A server sent a call frame of type {(byte)type}, which only clients send or nobody does (the peer is broken).");
        }
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

    protected override void OnClosed(Exception reason)
    {
        var status = new Status(StatusCode.Unavailable, reason switch
        {
            PeerDeadException => "The server process died (IICFast peer dead).",
            IicChannelClosedException => "The server closed the connection.",
            ObjectDisposedException => "The client's connection was disposed.",
            _ => "The connection to the server failed: " + reason.Message,
        }, reason);
        foreach (var call in _calls.Close(status))
        {
            call.OnConnectionLost(status);
        }
    }
}
