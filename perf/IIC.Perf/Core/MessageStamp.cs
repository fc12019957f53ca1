using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IIC.Perf.Core;

/// <summary>
/// The harness's own message format, the same over every transport. The body is a fixed byte pattern
/// (<see cref="Fill"/>); the sender stamps a 64-bit sequence number into the first word, into one aligned word
/// every <see cref="StampStride"/> bytes and into the last whole aligned word. The receiver reads EVERY byte: it
/// sums the message as 64-bit words (<see cref="PayloadChecksum"/>, vectorised) and compares the sum with what
/// the pattern and the stamps must give. So bytes/s means bytes delivered and read, and a message that arrives
/// torn, stale, late, twice or out of order fails verification (a stale stride changes the sum by a multiple of
/// the sequence difference, which no count of stale strides can cancel). Negative sequence numbers are control
/// messages.
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

    /// <summary>
    /// Interleaved rounds (Harness/InterleavedPair.cs): a block starts, the server's CPU clock runs again (it stopped at
    /// the last <see cref="Lap"/>); acknowledged by a throughput receiver, echoed by an echo server.
    /// </summary>
    public const long Resume = -5;

    /// <summary>The largest pause a <see cref="Lap"/> can ask for, µs.</summary>
    public const long MaxLapSleepUs = 10_000_000;

    private const long LapBase = -1_000_000_000;

    /// <summary>
    /// Interleaved rounds: a block is over, the server stops its CPU clock, acknowledges (a throughput receiver) or
    /// echoes it (an echo server), and then sleeps <paramref name="sleepUs"/> µs (while the other transport's block runs) instead of spinning on an
    /// empty ring. The code is negative like every control message: <c>-1e9 - sleepUs</c>.
    /// </summary>
    public static long Lap(long sleepUs) => LapBase - Math.Clamp(sleepUs, 0, MaxLapSleepUs);

    /// <summary>Whether <paramref name="control"/> is a <see cref="Lap"/>, and the pause it asks for.</summary>
    public static bool IsLap(long control, out long sleepUs)
    {
        sleepUs = LapBase - control;
        return sleepUs is >= 0 and <= MaxLapSleepUs;
    }

    /// <summary>Bytes between two stamped words: small enough that no page or stride can go stale unnoticed.</summary>
    public const int StampStride = 256;

    /// <summary>The pattern byte at <paramref name="index"/> (any bytes that are not all equal would do).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte PatternByte(int index) => (byte)((index * 0x9D) + 0x3B);

    /// <summary>Writes the body pattern; a sender does this once per buffer (or per claim), then stamps each message.</summary>
    public static void Fill(Span<byte> message)
    {
        for (var i = 0; i < message.Length; i++)
        {
            message[i] = PatternByte(i);
        }
    }

    /// <summary>Stamps <paramref name="sequence"/> into a message whose body is the pattern.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> message, long sequence)
    {
        ref var start = ref MemoryMarshal.GetReference(message);
        var last = LastWord(message.Length);
        for (var offset = 0; offset < last; offset += StampStride)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref start, offset), sequence);
        }
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref start, last), sequence);
    }

    /// <summary>The sequence number in the first 8 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Read(ReadOnlySpan<byte> message) => MemoryMarshal.Read<long>(message);

    /// <summary>Reads every byte: true when the message has the pattern and is stamped <paramref name="sequence"/> throughout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsIntact(ReadOnlySpan<byte> message, long sequence)
        => message.Length >= sizeof(long)
            && MemoryMarshal.Read<long>(message) == sequence
            && PayloadChecksum.Sum(message) == Expected(message.Length, sequence);

    /// <summary>Throws a clear error unless the message has the expected length, pattern and stamps (reads every byte).</summary>
    /// <exception cref="InvalidDataException">The message is not the one expected.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Verify(ReadOnlySpan<byte> message, int expectedLength, long sequence)
    {
        if (message.Length != expectedLength || !IsIntact(message, sequence))
        {
            ThrowCorrupt(message, expectedLength, sequence);
        }
    }

    /// <summary>The checksum a message of <paramref name="length"/> bytes stamped <paramref name="sequence"/> must have.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Expected(int length, long sequence)
    {
        var shape = Shape.For(length);
        return shape.PatternSum + (shape.Stamps * (ulong)sequence);
    }

    /// <summary>The offset of the last whole 8-byte word that lies on the 8-byte grid (always stamped).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LastWord(int length) => ((length - sizeof(long)) / sizeof(long)) * sizeof(long);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowCorrupt(ReadOnlySpan<byte> message, int expectedLength, long sequence)
    {
        var first = message.Length >= sizeof(long) ? MemoryMarshal.Read<long>(message) : long.MinValue;
        var last = message.Length >= sizeof(long) ? MemoryMarshal.Read<long>(message[LastWord(message.Length)..]) : long.MinValue;
        var sum = message.Length >= sizeof(long) ? PayloadChecksum.Sum(message) : 0;
        throw new InvalidDataException(
            $"Message verification failed: expected {expectedLength} bytes stamped {sequence} (checksum {Expected(expectedLength, sequence):x16}), got {message.Length} bytes stamped {first} (head) and {last} (tail), checksum {sum:x16}. The transport lost, reordered, duplicated, tore or did not deliver part of a message.");
    }

    /// <summary>
    /// The checksum of the pattern with the stamped words zeroed, and the number of stamped words, for one length:
    /// the expected sum is PatternSum + Stamps * sequence. Cached for the last length asked (a run has one size).
    /// </summary>
    private sealed class Shape(int length, ulong patternSum, ulong stamps)
    {
        // The last shape made, shared by all threads (round 14: it was thread static, a call to the runtime's TLS lookup on
        // every verify, on the echo's hop). A shape never changes after it is made and a reference is read and written
        // whole, so a thread sees either a complete shape (used if its length matches) or another length (it makes its own).
        private static Shape? s_last;

        public int Length { get; } = length;

        public ulong PatternSum { get; } = patternSum;

        public ulong Stamps { get; } = stamps;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Shape For(int length)
        {
            var last = s_last;
            return last is not null && last.Length == length ? last : Make(length);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static Shape Make(int length)
        {
            var message = new byte[length];
            Fill(message);
            Write(message, 0);
            var lastWord = LastWord(length);
            var stamps = (ulong)((lastWord + StampStride - 1) / StampStride) + 1;
            var shape = new Shape(length, PayloadChecksum.Sum(message), stamps);
            s_last = shape;
            return shape;
        }
    }
}
