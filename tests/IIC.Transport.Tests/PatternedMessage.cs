using System.Buffers.Binary;

namespace IIC.Transport.Tests;

/// <summary>Messages that say which one they are and where a byte went wrong: the large-message and fragment tests' payloads.</summary>
internal static class PatternedMessage
{
    /// <summary>Message <paramref name="index"/>: its index in the first 4 bytes (when it has room), then a pattern of index and offset.</summary>
    public static void Fill(Span<byte> message, int index)
    {
        for (var j = 0; j < message.Length; j++)
        {
            message[j] = (byte)((index * 31) + (j * 7) + (j >> 8));
        }
        if (message.Length >= sizeof(int))
        {
            BinaryPrimitives.WriteInt32LittleEndian(message, index);
        }
    }

    /// <summary>Null if <paramref name="message"/> is message <paramref name="index"/> as <see cref="Fill"/> made it, else what differs.</summary>
    public static string? Check(ReadOnlySpan<byte> message, int index)
    {
        var expected = new byte[message.Length];
        Fill(expected, index);
        if (message.SequenceEqual(expected))
        {
            return null;
        }
        var seen = message.Length >= sizeof(int) ? BinaryPrimitives.ReadInt32LittleEndian(message) : -1;
        return $"message {index} ({message.Length} bytes, stamped {seen}) differs from what was sent";
    }
}
