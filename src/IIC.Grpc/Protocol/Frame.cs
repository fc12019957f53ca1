using System.Buffers.Binary;

namespace IIC.Grpc.Protocol;

/// <summary>
/// The fixed part of every call frame: one IicChannel message is one frame (docs/grpc-call-protocol.md).
/// <code>
/// 0      u8   type (FrameType)
/// 1      u8   flags (FrameFlags for Message, else 0)
/// 2..5   u32  stream id, little endian (chosen by the client, unique per connection)
/// 6..    body (by type)
/// </code>
/// </summary>
internal static class Frame
{
    /// <summary>Bytes of the fixed header.</summary>
    public const int HeaderLength = 6;

    /// <summary>Bytes before a first chunk's data: the header and the u32 total length.</summary>
    public const int FirstChunkHeaderLength = HeaderLength + 4;

    /// <summary>The most data bytes one Message frame carries, so a large message cannot hold the send side for long.</summary>
    public const int MaxChunkData = 64 * 1024;

    /// <summary>
    /// The bytes of a <see cref="FrameType.Settings"/> body this version writes: <c>max concurrent calls: u32</c>
    /// (<see cref="NoCallLimit"/> for none), then <c>max header block: u32</c> (round 19: the server's MaxMetadataSize),
    /// then <c>options: u32</c> (round 22: <see cref="ReadsClientSettings"/>). A receiver ignores bytes after the fields it
    /// knows (later settings); a server of round 18 or before sends only the first field (<see cref="SettingsBodyLengthV1"/>),
    /// one of rounds 19 to 21 the first two (<see cref="SettingsBodyLengthV2"/>).
    /// </summary>
    public const int SettingsBodyLength = 12;

    /// <summary>The Settings body of a server of rounds 19 to 21: the call limit and the header block limit.</summary>
    public const int SettingsBodyLengthV2 = 8;

    /// <summary>
    /// Bit 0 of the Settings frame's options (round 22): the server reads a <see cref="FrameType.ClientSettings"/> frame, so
    /// the client sends one first. Without it (an earlier server) the client sends none. The other bits are 0 and ignored.
    /// </summary>
    public const uint ReadsClientSettings = 1;

    /// <summary>
    /// The bytes of a <see cref="FrameType.ClientSettings"/> body this version writes: <c>max header block: u32</c> (the
    /// client's MaxMetadataSize, at least 1024). A receiver ignores bytes after the fields it knows.
    /// </summary>
    public const int ClientSettingsBodyLength = 4;

    /// <summary>The Settings body of a server before round 19: the call limit alone.</summary>
    public const int SettingsBodyLengthV1 = 4;

    /// <summary>The <c>max concurrent calls</c> value that means no limit.</summary>
    public const uint NoCallLimit = uint.MaxValue;

    /// <summary>
    /// The limit a client assumes until the server's Settings frame arrives (as SocketsHttpHandler's
    /// InitialMaxConcurrentStreams); the reference client waits for that frame before its first call anyway.
    /// </summary>
    public const uint InitialMaxConcurrentCalls = 100;

    /// <summary>Writes a whole Settings frame (header and body) into <paramref name="frame"/> (<see cref="HeaderLength"/> + <see cref="SettingsBodyLength"/> bytes).</summary>
    public static void WriteSettings(Span<byte> frame, uint maxConcurrentCalls, int maxHeaderBlock)
    {
        WriteHeader(frame, FrameType.Settings, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[HeaderLength..], maxConcurrentCalls);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[(HeaderLength + 4)..], (uint)maxHeaderBlock);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[(HeaderLength + 8)..], ReadsClientSettings);
    }

    /// <summary>Writes a whole ClientSettings frame (header and body) into <paramref name="frame"/> (<see cref="HeaderLength"/> + <see cref="ClientSettingsBodyLength"/> bytes).</summary>
    public static void WriteClientSettings(Span<byte> frame, int maxHeaderBlock)
    {
        WriteHeader(frame, FrameType.ClientSettings, FrameFlags.None, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[HeaderLength..], (uint)maxHeaderBlock);
    }

    public static void WriteHeader(Span<byte> frame, FrameType type, FrameFlags flags, uint streamId)
    {
        frame[0] = (byte)type;
        frame[1] = (byte)flags;
        BinaryPrimitives.WriteUInt32LittleEndian(frame[2..], streamId);
    }

    /// <summary>Reads the fixed header; false when the frame is shorter than it (a broken peer).</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> frame, out FrameType type, out FrameFlags flags, out uint streamId)
    {
        if (frame.Length < HeaderLength)
        {
            type = default;
            flags = default;
            streamId = 0;
            return false;
        }
        type = (FrameType)frame[0];
        flags = (FrameFlags)frame[1];
        streamId = BinaryPrimitives.ReadUInt32LittleEndian(frame[2..]);
        return true;
    }
}
