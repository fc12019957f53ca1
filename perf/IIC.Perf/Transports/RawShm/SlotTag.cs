using System.Runtime.CompilerServices;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// The sequence tag in a slot header: message number + 1 (so a fresh, zeroed slot never matches), 32 bits. It is
/// the upper half of the little-endian header word, which makes it a 32-bit futex word of its own.
/// </summary>
internal static unsafe class SlotTag
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int For(long sequence) => (int)(sequence + 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Of(long header) => (int)(header >> 32);

    /// <summary>The tag's address in a slot, for futex wait and wake.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int* Word(byte* slot) => (int*)(slot + sizeof(int));
}
