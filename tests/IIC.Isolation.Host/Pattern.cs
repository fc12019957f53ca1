using System.Buffers.Binary;
using System.Globalization;

namespace IIC.Isolation.Host;

/// <summary>
/// Message <c>i</c>: <c>[i:i64][filler][FNV-1a 64 of the rest:u64]</c>, 16 B to about 2 KiB, size and filler a
/// function of i, so a partial, corrupt, lost or reordered message cannot pass <see cref="Check"/>.
/// </summary>
internal static class Pattern
{
    public static int SizeOf(long sequence) => 16 + (int)((ulong)(sequence * 37) % 2033);

    public static int Fill(Span<byte> buffer, long sequence)
    {
        var size = SizeOf(sequence);
        BinaryPrimitives.WriteInt64LittleEndian(buffer, sequence);
        for (var i = 8; i < size - 8; i++)
        {
            buffer[i] = (byte)((sequence * 31) + (i * 7));
        }
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[(size - 8)..], Checksum(buffer[..(size - 8)]));
        return size;
    }

    public static string? Check(ReadOnlySpan<byte> message, long sequence)
    {
        if (message.Length != SizeOf(sequence) || BinaryPrimitives.ReadUInt64LittleEndian(message[^8..]) != Checksum(message[..^8]))
        {
            return string.Create(CultureInfo.InvariantCulture, $"message {sequence}: {message.Length} bytes, bad length or checksum");
        }
        var seen = BinaryPrimitives.ReadInt64LittleEndian(message);
        return seen == sequence ? null : string.Create(CultureInfo.InvariantCulture, $"expected message {sequence}, got {seen}");
    }

    /// <summary>Byte <paramref name="offset"/> of the stream scenario's byte stream.</summary>
    public static byte StreamByte(long offset) => (byte)((offset * 131) ^ (offset >> 9));

    private static ulong Checksum(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return hash;
    }
}
