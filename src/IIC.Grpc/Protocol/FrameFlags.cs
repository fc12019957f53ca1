namespace IIC.Grpc.Protocol;

/// <summary>Flags of a <see cref="FrameType.Message"/> frame (byte 1).</summary>
[Flags]
internal enum FrameFlags : byte
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>The first chunk of a message: a u32 total length precedes the bytes.</summary>
    First = 1,

    /// <summary>The last chunk of a message.</summary>
    Last = 2,

    /// <summary>After this message the client sends no more (a half-close folded into the message frame).</summary>
    EndStream = 4,
}
