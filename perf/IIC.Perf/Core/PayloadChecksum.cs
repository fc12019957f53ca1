using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IIC.Perf.Core;

/// <summary>
/// A checksum that reads every byte of a message at memory speed: the wrapping sum of its 64-bit words (on the
/// 8-byte grid from its start), plus each byte of a tail shorter than a word. Four 256-bit accumulators keep the
/// adds independent, so large messages are bound by the loads (tens of GB/s from L1/L2), not by the adds.
/// </summary>
internal static class PayloadChecksum
{
    /// <summary>Below this many bytes the words are summed inline, one add each (a 32 B message: four loads and adds).</summary>
    internal const int InlineLimit = 128;

    /// <summary>The checksum of <paramref name="data"/>: every byte read.</summary>
    /// <remarks>
    /// Round 14 (issue 17): a message under <see cref="InlineLimit"/> bytes is summed here, word by word, with no call. It
    /// was a call to <see cref="SumVectors"/> (whose out parameter kept the offset in memory) and a reduction of four
    /// vectors: about 60 instructions on each hop of the 32 B echo, the server's between the request's arrival and its
    /// reply, over every transport alike. The sum is the same either way (wrapping adds of the same words).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sum(ReadOnlySpan<byte> data)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        if (length >= InlineLimit && Vector256.IsHardwareAccelerated)
        {
            return SumLarge(ref start, length);
        }
        return SumWords(ref start, 0, length, 0);
    }

    /// <summary>Vectors for the bulk, then the words and bytes after it (out of line: large messages only).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong SumLarge(ref byte start, int length)
    {
        var sum = SumVectors(ref start, length, out var offset);
        return SumWords(ref start, offset, length, sum);
    }

    /// <summary>Adds the 8-byte words from <paramref name="offset"/>, then each byte of a shorter tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SumWords(ref byte start, int offset, int length, ulong sum)
    {
        for (; offset + sizeof(ulong) <= length; offset += sizeof(ulong))
        {
            sum += Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, offset));
        }
        for (; offset < length; offset++)
        {
            sum += Unsafe.Add(ref start, offset);
        }
        return sum;
    }

    private static ulong SumVectors(ref byte start, int length, out int offset)
    {
        var a = Vector256<ulong>.Zero;
        var b = Vector256<ulong>.Zero;
        var c = Vector256<ulong>.Zero;
        var d = Vector256<ulong>.Zero;
        var i = 0;
        for (; i + 128 <= length; i += 128)
        {
            a += Vector256.LoadUnsafe(ref Unsafe.As<byte, ulong>(ref Unsafe.Add(ref start, i)));
            b += Vector256.LoadUnsafe(ref Unsafe.As<byte, ulong>(ref Unsafe.Add(ref start, i + 32)));
            c += Vector256.LoadUnsafe(ref Unsafe.As<byte, ulong>(ref Unsafe.Add(ref start, i + 64)));
            d += Vector256.LoadUnsafe(ref Unsafe.As<byte, ulong>(ref Unsafe.Add(ref start, i + 96)));
        }
        for (; i + 32 <= length; i += 32)
        {
            a += Vector256.LoadUnsafe(ref Unsafe.As<byte, ulong>(ref Unsafe.Add(ref start, i)));
        }
        offset = i;
        return Vector256.Sum(a + b + c + d);
    }
}
