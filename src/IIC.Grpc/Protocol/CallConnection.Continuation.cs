using System.Buffers;
using System.Buffers.Binary;
using Grpc.Core;
using IIC.Transport;

namespace IIC.Grpc.Protocol;

// CallConnection, frames longer than one ring record (round 18): a CallStart, ResponseHeaders or Trailers frame whose
// metadata does not fit one record goes as that frame (flag Continued, its first bytes) and Continuation frames of the same
// stream, each one record, the last without the flag, and nothing else in between; the reader gathers them and hands the
// whole frame to OnFrame. So no send ever waits for room holding a thread (every piece is one record, sent or queued as
// any frame), and the size of a header block is bounded on both sides (MaxMetadataSize).
internal abstract partial class CallConnection
{
    /// <summary>The default <see cref="MaxMetadataSize"/>: 4 MiB (the options' default).</summary>
    public const int DefaultMaxMetadataSize = MetadataSizeLimit.Default;

    private readonly int _maxMetadata;

    /// <summary>
    /// The most bytes of one header block this side sends: its own <see cref="MaxMetadataSize"/>, or less when the peer
    /// announced less (a client, from the server's Settings frame: <see cref="LimitSendsToPeer"/>).
    /// </summary>
    private int _sendMetadataLimit;

    /// <summary>Whether <see cref="_sendMetadataLimit"/> is the peer's announced limit rather than this side's own.</summary>
    private bool _sendLimitIsPeers;

    /// <summary>Sent frames longer than this are looked at (<see cref="MustSplit"/>): one ring record, or less when the send limit is smaller.</summary>
    private int _sendCheckAbove;

    /// <summary>What <see cref="_receiveCheckAbove"/> is while no continued frame is gathered.</summary>
    private readonly int _receiveCheckAboveIdle;

    /// <summary>
    /// Reader thread only: received frames longer than this take <see cref="OnLongFrame"/> (a frame over one record, a
    /// header block that may be over the limit); -1 while a continued frame is gathered, so every frame goes there then.
    /// </summary>
    private int _receiveCheckAbove;

    private byte[]? _gather; // reader thread only: the continued frame's body so far (null: none)
    private bool _discarding; // reader thread only: the rest of a continued frame over the limit is skipped, not gathered
    private int _gatherLength;
    private FrameType _gatherType;
    private FrameFlags _gatherFlags;
    private uint _gatherStream;

    /// <summary>
    /// The most bytes of one header block this side sends or accepts: a frame's fields without a message it carries (a
    /// CallStart's timeout, method name and request headers; a ResponseHeaders frame's headers; a Trailers frame's status,
    /// detail and trailers).
    /// </summary>
    public int MaxMetadataSize => _maxMetadata;

    /// <summary>
    /// The peer accepts header blocks of at most <paramref name="peerLimit"/> bytes (a client, from the server's Settings
    /// frame, 2.8; a server, from the client's ClientSettings frame, round 22): blocks over it are refused before anything
    /// is sent, as over this side's own limit, instead of reaching the peer as a protocol error that would end the
    /// connection and every call on it (the server's request headers), or ending the call there (the client's response
    /// headers and trailers). Reader thread, before the first call's frame is sent: the client sends no CallStart before
    /// the Settings frame was read, and the connect that awaits that (its TaskCompletionSource) orders these writes before
    /// every send that reads them; the server reads the ClientSettings frame before any CallStart, and a call's handler
    /// runs after its CallStart was read (handed over through the thread pool or run by this thread).
    /// </summary>
    protected void LimitSendsToPeer(int peerLimit)
    {
        if (peerLimit >= _sendMetadataLimit)
        {
            return;
        }
        _sendMetadataLimit = peerLimit;
        _sendLimitIsPeers = true;
        _sendCheckAbove = SendCheckAbove(_channel, peerLimit);
    }

    /// <summary>Whose announced limit <see cref="LimitSendsToPeer"/> takes, and its option, for the refusal's message (the client's side: the server's).</summary>
    protected virtual string PeerLimitSource => "the server accepts in one header block (its IicGrpcServerOptions.MaxMetadataSize, announced when the connection opened)";

    /// <summary>The peer, in the refusal's advice ("raise the server's limit").</summary>
    protected virtual string PeerName => "server";

    /// <summary>The frame length above which a sent frame is looked at: one ring record, or the header and a header block of <paramref name="limit"/> bytes when that is less.</summary>
    private static int SendCheckAbove(IicChannel channel, int limit) => (int)Math.Min(channel.MaxClaimLength, (long)Frame.HeaderLength + limit);

    private static bool IsHeaderBlock(FrameType type) => type is FrameType.CallStart or FrameType.ResponseHeaders or FrameType.Trailers;

    protected static string BlockName(FrameType type) => type switch
    {
        FrameType.CallStart => "request headers (a CallStart frame: with the method name and timeout)",
        FrameType.ResponseHeaders => "response headers",
        _ => "trailers (with the status and its detail)",
    };

    /// <summary>
    /// The header block's length in a frame's body: the body without a carried message (<see cref="FrameFlags.WithMessage"/>);
    /// -1 when the carried message's length runs past the body (OnFrame reports that as a broken peer).
    /// </summary>
    private static long BlockLength(FrameFlags flags, ReadOnlySpan<byte> body)
    {
        if ((flags & FrameFlags.WithMessage) == 0)
        {
            return body.Length;
        }
        if (body.Length < 4)
        {
            return -1;
        }
        var carried = BinaryPrimitives.ReadUInt32LittleEndian(body); // read once: the ring is shared with the peer
        return carried > (uint)(body.Length - 4) ? -1 : body.Length - 4 - carried;
    }

    /// <summary>
    /// A frame to send longer than <see cref="_sendCheckAbove"/>: refuses a header block over <see cref="MaxMetadataSize"/>
    /// (before anything of it is sent) and says whether it is longer than one record (it goes in pieces, queued).
    /// </summary>
    /// <exception cref="RpcException"><c>ResourceExhausted</c>: the frame's header block is over the limit.</exception>
    private bool MustSplit(ReadOnlySpan<byte> frame)
    {
        var type = (FrameType)frame[0];
        if (IsHeaderBlock(type))
        {
            var block = BlockLength((FrameFlags)frame[1], frame[Frame.HeaderLength..]);
            if (block > _sendMetadataLimit)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, _sendLimitIsPeers
                    ? $"The call's {BlockName(type)} take {block} bytes, more than the {_sendMetadataLimit} {PeerLimitSource}: send less metadata, or raise the {PeerName}'s limit."
                    : $"The call's {BlockName(type)} take {block} bytes, more than the {_sendMetadataLimit} this side sends in one header block (the MaxMetadataSize option of IicGrpcClientOptions or IicGrpcServerOptions): send less metadata, or raise the limit on both sides."));
            }
        }
        return frame.Length > _channel.MaxClaimLength;
    }

    /// <summary>The most bytes a continued frame's body may gather: the limit, plus a carried message (at most one chunk).</summary>
    private long GatherBound(FrameFlags flags) => _maxMetadata + ((flags & FrameFlags.WithMessage) != 0 ? 4L + Frame.MaxChunkData : 0L);

    /// <summary>
    /// A header block over this side's limit arrived for <paramref name="streamId"/> (<paramref name="length"/> bytes, or at
    /// least that many when it was cut short): true when the connection goes on (the derived side ended that one call, and
    /// the rest of the block, if more pieces follow, is skipped without being gathered); false (the default) when it is a
    /// protocol error that closes the connection. Reader thread.
    /// </summary>
    protected virtual bool OnHeaderBlockOverLimit(FrameType type, uint streamId, long length) => false;

    /// <summary>Over the limit: hands it to <see cref="OnHeaderBlockOverLimit"/>, or throws the protocol error.</summary>
    /// <exception cref="InvalidDataException">The derived side does not take it: the connection is closed.</exception>
    private void RefuseOverLimit(FrameType type, uint streamId, long length)
    {
        if (streamId == 0 || !OnHeaderBlockOverLimit(type, streamId, length))
        {
            throw OverLimit(type, length);
        }
    }

    /// <summary>
    /// The longest frame a peer may send whole, which the transport reassembles when it is longer than one record: a
    /// header block at <paramref name="maxMetadataSize"/> carrying one chunk of a message (<see cref="GatherBound"/>) and
    /// the frame header. This version sends every frame as one record; a peer of before round 18 sent long header frames
    /// whole, and those are accepted within the limit (docs/grpc-call-protocol.md 2.9).
    /// </summary>
    public static long MaxWholeFrameLength(int maxMetadataSize) => Frame.HeaderLength + maxMetadataSize + 4L + Frame.MaxChunkData;

    /// <summary>
    /// <paramref name="options"/> with the transport's receive limit at <see cref="MaxWholeFrameLength"/> (at most
    /// <see cref="IicChannel.MaxMessageLength"/>), unless the application set a smaller one: a peer can then make the
    /// transport buffer no more than one frame may be, where it could make it buffer 1 GiB before.
    /// </summary>
    public static ChannelOptions WithFrameReceiveLimit(ChannelOptions options, int maxMetadataSize)
    {
        var limit = Math.Min(MaxWholeFrameLength(maxMetadataSize), IicChannel.MaxMessageLength);
        return options.MaxReceiveMessageLength <= limit ? options : options with { MaxReceiveMessageLength = limit };
    }

    private InvalidDataException OverLimit(FrameType type, long length)
        => new($"The peer sent {BlockName(type)} of {length} bytes or more, over this side's limit of {_maxMetadata} bytes for one header block (MaxMetadataSize): the connection is closed (raise the limit on this side if the peer is neither broken nor hostile).");

    /// <summary>
    /// Reader thread: a frame longer than <see cref="_receiveCheckAbove"/>, a continued one, a Continuation, or any frame
    /// while a continued frame is gathered. Gathers, checks the limit, and hands whole frames to <see cref="OnFrame"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">A protocol error (the connection is closed): a Continuation out of place, another frame between the pieces, or a header block over the limit.</exception>
    private void OnLongFrame(FrameType type, FrameFlags flags, uint streamId, ReadOnlySpan<byte> body)
    {
        if (_gather is not null || _discarding)
        {
            ContinueGather(type, flags, streamId, body);
            return;
        }
        if (type == FrameType.Continuation)
        {
            throw new InvalidDataException($"A Continuation frame for stream {streamId} follows no continued frame (the peer is broken).");
        }
        var isBlock = IsHeaderBlock(type);
        if ((flags & FrameFlags.Continued) != 0)
        {
            if (!isBlock || streamId == 0)
            {
                throw new InvalidDataException($"A frame of type {(byte)type} on stream {streamId} is marked continued; only a call's CallStart, ResponseHeaders and Trailers frames may be (the peer is broken).");
            }
            var bound = GatherBound(flags);
            if (body.Length > bound)
            {
                RefuseOverLimit(type, streamId, body.Length);
                StartDiscarding(streamId);
                return;
            }
            _gather = ArrayPool<byte>.Shared.Rent((int)Math.Min(bound, Math.Max(4096L, 4L * body.Length)));
            body.CopyTo(_gather);
            _gatherLength = body.Length;
            _gatherType = type;
            _gatherFlags = flags & ~FrameFlags.Continued;
            _gatherStream = streamId;
            _receiveCheckAbove = -1;
            return;
        }
        if (isBlock && BlockLength(flags, body) > _maxMetadata)
        {
            // A whole frame over the limit: from a peer of an earlier round (it sent frames longer than one record whole,
            // which the transport reassembles), or one that ignores the limit.
            RefuseOverLimit(type, streamId, BlockLength(flags, body));
            return;
        }
        OnFrame(type, flags, streamId, body);
    }

    private void ContinueGather(FrameType type, FrameFlags flags, uint streamId, ReadOnlySpan<byte> body)
    {
        if (type != FrameType.Continuation || streamId != _gatherStream)
        {
            throw new InvalidDataException($"A frame of type {(byte)type} for stream {streamId} came between the pieces of stream {_gatherStream}'s continued frame; only its Continuation frames may (the peer is broken).");
        }
        if (_discarding)
        {
            if ((flags & FrameFlags.Continued) == 0)
            {
                _discarding = false; // the skipped block's last piece
                _receiveCheckAbove = _receiveCheckAboveIdle;
            }
            return;
        }
        var total = (long)_gatherLength + body.Length;
        if (total > GatherBound(_gatherFlags))
        {
            var over = _gather!;
            _gather = null;
            ArrayPool<byte>.Shared.Return(over);
            _receiveCheckAbove = _receiveCheckAboveIdle;
            RefuseOverLimit(_gatherType, streamId, total);
            if ((flags & FrameFlags.Continued) != 0)
            {
                StartDiscarding(streamId);
            }
            return;
        }
        if (total > _gather!.Length)
        {
            var grown = ArrayPool<byte>.Shared.Rent((int)Math.Min(GatherBound(_gatherFlags), Math.Max(total, 2L * _gather.Length)));
            _gather.AsSpan(0, _gatherLength).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(_gather);
            _gather = grown;
        }
        body.CopyTo(_gather.AsSpan(_gatherLength));
        _gatherLength = (int)total;
        if ((flags & FrameFlags.Continued) != 0)
        {
            return;
        }
        var gathered = _gather;
        _gather = null;
        _receiveCheckAbove = _receiveCheckAboveIdle;
        try
        {
            var whole = gathered.AsSpan(0, _gatherLength);
            var block = BlockLength(_gatherFlags, whole);
            if (block > _maxMetadata)
            {
                RefuseOverLimit(_gatherType, _gatherStream, block);
                return;
            }
            OnFrame(_gatherType, _gatherFlags, _gatherStream, whole);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(gathered);
        }
    }

    /// <summary>Skips the rest of <paramref name="streamId"/>'s continued block (its Continuation pieces) without gathering it.</summary>
    private void StartDiscarding(uint streamId)
    {
        _discarding = true;
        _gatherStream = streamId;
        _receiveCheckAbove = -1; // every frame comes here until the block's last piece: nothing may come between
    }
}
