using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IIC.Perf.Core;

/// <summary>
/// The harness's own message format, the same over every transport: a 64-bit sequence number in the first and in
/// the last 8 bytes (they overlap for an 8-byte message), so a message that arrives torn, late, twice or out of order
/// fails verification. Negative sequence numbers are control messages.
/// </summary>
internal static class MessageStamp
{
    /// <summary>End of the run: the server echoes it (ping-pong) or acknowledges it (throughput), reports and exits.</summary>
    public const long Stop = -1;

    /// <summary>Warm-up is over: the server starts its CPU clock and counters, and echoes or acknowledges it.</summary>
    public const long Mark = -2;

    /// <summary>An acknowledgement from the throughput receiver (for <see cref="Mark"/> and <see cref="Stop"/>).</summary>
    public const long Ack = -3;

    /// <summary>The measured phase is over and the client is about to go quiet: the server starts its idle CPU clock.</summary>
    public const long Idle = -4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> message, long sequence)
    {
        MemoryMarshal.Write(message, in sequence);
        MemoryMarshal.Write(message[^sizeof(long)..], in sequence);
    }

    /// <summary>The sequence number in the first 8 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Read(ReadOnlySpan<byte> message) => MemoryMarshal.Read<long>(message);

    /// <summary>True when both stamps hold <paramref name="sequence"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsIntact(ReadOnlySpan<byte> message, long sequence)
        => MemoryMarshal.Read<long>(message) == sequence && MemoryMarshal.Read<long>(message[^sizeof(long)..]) == sequence;

    /// <summary>Throws a clear error unless the message has the expected length and both stamps.</summary>
    /// <exception cref="InvalidDataException">The message is not the one expected.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Verify(ReadOnlySpan<byte> message, int expectedLength, long sequence)
    {
        if (message.Length != expectedLength || !IsIntact(message, sequence))
        {
            ThrowCorrupt(message, expectedLength, sequence);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowCorrupt(ReadOnlySpan<byte> message, int expectedLength, long sequence)
    {
        var first = message.Length >= sizeof(long) ? MemoryMarshal.Read<long>(message) : long.MinValue;
        var last = message.Length >= sizeof(long) ? MemoryMarshal.Read<long>(message[^sizeof(long)..]) : long.MinValue;
        throw new InvalidDataException(
            $"Message verification failed: expected {expectedLength} bytes stamped {sequence}, got {message.Length} bytes stamped {first} (head) and {last} (tail). The transport lost, reordered, duplicated or tore a message.");
    }
}
