using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IIC.Hardware;

// The sender's copy into its record (issue 17, round 10): a payload of up to a line is copied with two overlapping
// loads and stores of one width, inline, instead of a call to SpanHelpers.Memmove (6 % of a 32 B send's profile in
// round 9: the call, its size dispatch and its frame). The class's documentation is in RingWriter.cs.
public sealed unsafe partial class RingWriter
{
    /// <summary>Payloads up to this length are copied inline (<see cref="CopyPayload"/>): a record line's worth.</summary>
    internal const int InlineCopyLimit = 64;

    /// <summary>
    /// Copies <paramref name="payload"/> to <paramref name="destination"/> (the record's payload area, which the caller
    /// reserved for at least <c>payload.Length</c> bytes). Up to <see cref="InlineCopyLimit"/> bytes: the first and the last
    /// 32, 16, 8, 4 or 2 bytes (or the one byte), each read before either is written, so only bytes inside both spans are
    /// touched (they overlap in the middle when the length is not a power of two); longer payloads go to Memmove. Plain
    /// stores: the caller's publish (a release store) orders them before the length word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CopyPayload(ReadOnlySpan<byte> payload, byte* destination)
    {
        var length = (uint)payload.Length;
        ref var source = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(payload);
        if (length > InlineCopyLimit)
        {
            payload.CopyTo(new Span<byte>(destination, (int)length));
            return;
        }
        if (length >= 16)
        {
            if (length > 32)
            {
                // 33..64: two 32-byte halves (one AVX load and store each where the CPU has it; two 16-byte ones otherwise).
                var head = Vector256.LoadUnsafe(ref source);
                var tail = Vector256.LoadUnsafe(ref source, length - 32);
                head.Store(destination);
                tail.Store(destination + length - 32);
                return;
            }
            var first = Vector128.LoadUnsafe(ref source);
            var last = Vector128.LoadUnsafe(ref source, length - 16);
            first.Store(destination);
            last.Store(destination + length - 16);
            return;
        }
        if (length >= 8)
        {
            var first = Unsafe.ReadUnaligned<ulong>(ref source);
            var last = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref source, length - 8));
            Unsafe.WriteUnaligned(destination, first);
            Unsafe.WriteUnaligned(destination + length - 8, last);
            return;
        }
        if (length >= 4)
        {
            var first = Unsafe.ReadUnaligned<uint>(ref source);
            var last = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref source, length - 4));
            Unsafe.WriteUnaligned(destination, first);
            Unsafe.WriteUnaligned(destination + length - 4, last);
            return;
        }
        if (length >= 2)
        {
            var first = Unsafe.ReadUnaligned<ushort>(ref source);
            var last = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref source, length - 2));
            Unsafe.WriteUnaligned(destination, first);
            Unsafe.WriteUnaligned(destination + length - 2, last);
            return;
        }
        if (length == 1)
        {
            *destination = source;
        }
    }
}
