namespace IIC.Grpc.Protocol;

/// <summary>Flags of a frame (byte 1): chunk flags of a <see cref="FrameType.Message"/>, <see cref="WithMessage"/> and <see cref="Continued"/>.</summary>
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

    /// <summary>
    /// CallStart and Trailers: the body begins with one whole message, <c>[length u32][bytes]</c> (a first and last
    /// chunk's body), then the frame type's own fields. A unary call then takes one frame each way, so a sleeping
    /// receiver is woken once per direction instead of once per frame. On CallStart, <see cref="EndStream"/> may be set too.
    /// </summary>
    WithMessage = 8,

    /// <summary>
    /// CallStart, ResponseHeaders, Trailers and <see cref="FrameType.Continuation"/>: the frame's body goes on in the next
    /// frame, a <see cref="FrameType.Continuation"/> of the same stream (the whole frame is longer than one ring record).
    /// </summary>
    Continued = 16,
}
