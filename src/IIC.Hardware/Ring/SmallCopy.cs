using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IIC.Hardware;

/// <summary>
/// The copy of a message of up to a cache line, inline (issue 17): the sender's copy into its record (round 10: 6 % of
/// a 32 B send's profile in round 9 was the call to SpanHelpers.Memmove, its size dispatch and its frame) and the
/// receiver's copy out of it (round 21: the same call sat on the echo's critical path, between seeing a message and
/// sending the reply). Up to <see cref="InlineLimit"/> bytes: the first and the last 32, 16, 8, 4 or 2 bytes (or the
/// one byte), each read before either is written, so only bytes inside both spans are touched (they overlap in the
/// middle when the length is not a power of two); longer copies go to Memmove.
/// </summary>
internal static class SmallCopy
{
    /// <summary>Copies up to this many bytes inline: a record line's worth.</summary>
    internal const int InlineLimit = 64;

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/>, which has room for at least
    /// <c>source.Length</c> bytes (the caller checked). Plain loads and stores: a sender's publish (a release store) orders
    /// them before its length word; a receiver's copy follows its acquire load of that word. When the source is shared
    /// memory a peer can change its bytes during the copy; that can only change which bytes arrive, never how many or where
    /// (the length was read once and validated by the caller).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Copy(ReadOnlySpan<byte> source, ref byte destination)
    {
        var length = (uint)source.Length;
        ref var from = ref MemoryMarshal.GetReference(source);
        if (length > InlineLimit)
        {
            source.CopyTo(MemoryMarshal.CreateSpan(ref destination, (int)length));
            return;
        }
        if (length >= 16)
        {
            if (length > 32)
            {
                // 33..64: two 32-byte halves (one AVX load and store each where the CPU has it; two 16-byte ones otherwise).
                var head = Vector256.LoadUnsafe(ref from);
                var tail = Vector256.LoadUnsafe(ref from, length - 32);
                head.StoreUnsafe(ref destination);
                tail.StoreUnsafe(ref destination, length - 32);
                return;
            }
            var first = Vector128.LoadUnsafe(ref from);
            var last = Vector128.LoadUnsafe(ref from, length - 16);
            first.StoreUnsafe(ref destination);
            last.StoreUnsafe(ref destination, length - 16);
            return;
        }
        if (length >= 8)
        {
            var first = Unsafe.ReadUnaligned<ulong>(ref from);
            var last = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref from, length - 8));
            Unsafe.WriteUnaligned(ref destination, first);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, length - 8), last);
            return;
        }
        if (length >= 4)
        {
            var first = Unsafe.ReadUnaligned<uint>(ref from);
            var last = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref from, length - 4));
            Unsafe.WriteUnaligned(ref destination, first);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, length - 4), last);
            return;
        }
        if (length >= 2)
        {
            var first = Unsafe.ReadUnaligned<ushort>(ref from);
            var last = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref from, length - 2));
            Unsafe.WriteUnaligned(ref destination, first);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, length - 2), last);
            return;
        }
        if (length == 1)
        {
            destination = from;
        }
    }
}
