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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sum(ReadOnlySpan<byte> data)
    {
        ref var start = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        var offset = 0;
        ulong sum = 0;
        if (Vector256.IsHardwareAccelerated && length >= 32)
        {
            sum = SumVectors(ref start, length, out offset);
        }
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
