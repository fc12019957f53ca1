namespace IIC.Hardware;

/// <summary>
/// The descriptor at the start of every record in a ring: <c>[length:int32][type:int32]</c>, little-endian.
/// <para>length: the whole record in bytes (header + payload, before alignment). 0 = nothing published yet;
/// negative = claimed, being written (never delivered); positive = published. It is stored last, with release
/// semantics: that store is the publish.</para>
/// <para>type: the low 8 bits are <see cref="RecordFraming"/>; bits 16-31 carry a user message type.</para>
/// </summary>
public static class RecordHeader
{
    /// <summary>Bytes in the descriptor.</summary>
    public const int Size = 8;

    /// <summary>Offset of the length word in a record.</summary>
    internal const int LengthOffset = 0;

    /// <summary>Offset of the type word in a record.</summary>
    internal const int TypeOffset = 4;

    /// <summary>Bytes at the start of a first fragment's payload that hold the whole message's length (int64).</summary>
    public const int MessageLengthPrefixSize = 8;

    /// <summary>Builds a type word from flags and a user message type.</summary>
    public static int MakeType(RecordFraming flags, ushort messageType = 0) => (int)flags | (messageType << 16);

    /// <summary>The flags of a type word.</summary>
    public static RecordFraming Flags(int type) => (RecordFraming)(type & 0xff);

    /// <summary>The user message type of a type word.</summary>
    public static ushort MessageType(int type) => (ushort)((uint)type >> 16);
}

/// <summary>Flags in the low byte of a record's type word.</summary>
[Flags]
public enum RecordFraming
{
    /// <summary>A middle fragment of a message.</summary>
    None = 0,
    /// <summary>The first record of a message. A first fragment that is not also the last starts with the message length.</summary>
    Begin = 0x1,
    /// <summary>The last record of a message.</summary>
    End = 0x2,
    /// <summary>A whole message in one record.</summary>
    Unfragmented = Begin | End,
    /// <summary>Filler up to the end of the data area (at the wrap) or an aborted claim: the reader skips it.</summary>
    Padding = 0x4,
    /// <summary>
    /// The sender gave up on the fragmented message in progress (its timeout or token ran out): the reader discards
    /// the fragments it gathered and delivers nothing of that message. A header-only record, valid only mid-message.
    /// </summary>
    Abandon = 0x8,
    /// <summary>Every defined flag.</summary>
    All = Begin | End | Padding | Abandon,
}
