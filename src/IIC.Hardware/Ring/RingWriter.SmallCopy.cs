using System.Runtime.CompilerServices;

namespace IIC.Hardware;

// The sender's copy into its record, inline up to a line (SmallCopy.cs). The class's documentation is in RingWriter.cs.
public sealed unsafe partial class RingWriter
{
    /// <summary>Payloads up to this length are copied inline (<see cref="CopyPayload"/>): a record line's worth.</summary>
    internal const int InlineCopyLimit = SmallCopy.InlineLimit;

    /// <summary>
    /// Copies <paramref name="payload"/> to <paramref name="destination"/> (the record's payload area, which the caller
    /// reserved for at least <c>payload.Length</c> bytes), inline up to a line (<see cref="SmallCopy"/>). Plain stores: the
    /// caller's publish (a release store) orders them before the length word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void CopyPayload(ReadOnlySpan<byte> payload, byte* destination) => SmallCopy.Copy(payload, ref *destination);
}
