using System.Buffers.Binary;

namespace IIC.TestHost;

/// <summary>A message that carries its sequence, its send time and a checksum, so a receiver proves order, integrity and delay.</summary>
public static class StampedMessage
{
    /// <summary>Bytes: [sequence:i32][sent at (Stopwatch ticks):i64][filler:48][checksum:u32].</summary>
    public const int Size = 64;

    /// <summary>Writes a stamped message (the receiver checks it with <see cref="Check"/>).</summary>
    public static void Write(Span<byte> message, int sequence, long sentAt)
    {
        BinaryPrimitives.WriteInt32LittleEndian(message, sequence);
        BinaryPrimitives.WriteInt64LittleEndian(message[4..], sentAt);
        for (var i = 12; i < Size - 4; i++)
        {
            message[i] = (byte)((sequence * 31) + (i * 7));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(message[(Size - 4)..], Checksum(message[..(Size - 4)]));
    }

    /// <summary>Checks a stamped message; returns its sequence and send time, or false if it is damaged.</summary>
    public static bool Check(ReadOnlySpan<byte> message, out int sequence, out long sentAt)
    {
        sequence = message.Length == Size ? BinaryPrimitives.ReadInt32LittleEndian(message) : -1;
        sentAt = message.Length == Size ? BinaryPrimitives.ReadInt64LittleEndian(message[4..]) : 0;
        return message.Length == Size && BinaryPrimitives.ReadUInt32LittleEndian(message[(Size - 4)..]) == Checksum(message[..(Size - 4)]);
    }

    private static uint Checksum(ReadOnlySpan<byte> bytes)
    {
        var hash = 2166136261u; // FNV-1a
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 16777619u;
        }
        return hash;
    }

}
