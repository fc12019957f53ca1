using System.Buffers.Binary;
using System.Globalization;

namespace IIC.TestHost;

/// <summary>
/// Messages the hypervisor tests exchange: <c>[sequence:i64][filler...][checksum:u64]</c>, the size and the
/// filler a function of the sequence number, the checksum (FNV-1a 64) over everything before it. A receiver
/// checks the checksum, the sequence and the length, so a partial, corrupt or out-of-order message cannot pass.
/// Also compiled into IIC.Isolation.Host (its echo scenarios speak the same messages).
/// </summary>
public static class HypervisorPattern
{
    /// <summary>The smallest message (sequence and checksum).</summary>
    public const int MinSize = 16;

    /// <summary>The size of message <paramref name="sequence"/>: 16 B to about 2 KiB.</summary>
    public static int SizeOf(long sequence) => MinSize + (int)((ulong)(sequence * 37) % 2033);

    /// <summary>Writes message <paramref name="sequence"/> into <paramref name="buffer"/> and returns its length.</summary>
    public static int Fill(Span<byte> buffer, long sequence)
    {
        var size = SizeOf(sequence);
        var message = buffer[..size];
        BinaryPrimitives.WriteInt64LittleEndian(message, sequence);
        for (var i = 8; i < size - 8; i++)
        {
            message[i] = (byte)((sequence * 31) + (i * 7));
        }
        BinaryPrimitives.WriteUInt64LittleEndian(message[(size - 8)..], Checksum(message[..(size - 8)]));
        return size;
    }

    /// <summary>Null if <paramref name="message"/> is exactly message <paramref name="sequence"/>, else what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> message, long sequence)
    {
        if (message.Length < MinSize)
        {
            return string.Create(CultureInfo.InvariantCulture, $"message {sequence}: {message.Length} bytes is shorter than any message");
        }
        var sum = BinaryPrimitives.ReadUInt64LittleEndian(message[^8..]);
        if (sum != Checksum(message[..^8]))
        {
            return string.Create(CultureInfo.InvariantCulture, $"message {sequence}: bad checksum over {message.Length} bytes (partial or corrupt)");
        }
        var seen = BinaryPrimitives.ReadInt64LittleEndian(message);
        if (seen != sequence)
        {
            return string.Create(CultureInfo.InvariantCulture, $"expected message {sequence}, got {seen} (lost, duplicated or reordered)");
        }
        return message.Length == SizeOf(sequence) ? null : string.Create(CultureInfo.InvariantCulture, $"message {sequence}: {message.Length} bytes, expected {SizeOf(sequence)}");
    }

    /// <summary>FNV-1a 64.</summary>
    public static ulong Checksum(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return hash;
    }
}
