using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

// The reader's faults: what it counts and how it reports a corrupt record. The class's documentation is in RingReader.cs.
public sealed unsafe partial class RingReader
{
    /// <summary>Ring faults this reader has raised (each <see cref="RingFaultException"/> thrown counts; owned by the reading thread).</summary>
    public long Faults { get; private set; }

    private RingFaultException Fault(string what)
    {
        _fault = what;
        return Faulted(what);
    }

    /// <summary>Counts and creates a fault found while reading this ring (framing faults found by the endpoint too).</summary>
    internal RingFaultException Faulted(string what)
    {
        Faults++;
        return _ring.Fault(what);
    }

    // The fault reports live out of line (NoInlining): TryPeek is inlined into every receive and poll, and an
    // interpolated string inside it put its handler structs (which hold references, so the JIT zeroes them in the
    // prolog) into each caller's frame, paid on every call even though no fault is ever formatted on the fast path.

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowFaulted() => throw Fault(_fault!);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNegativeLength(int offset, int length) => throw Fault(string.Create(CultureInfo.InvariantCulture,
        $"record at offset {offset} (position {_head}) has the negative length {length}; a header holds 0 (nothing yet) or a published length"));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadRecord(int offset, int length, int recordType) => throw Fault(string.Create(CultureInfo.InvariantCulture,
        $"record at offset {offset} (position {_head}) has length {length} and type 0x{recordType:x8}; a record must be {RecordHeader.Size} to {_capacity - offset} bytes inside the data area with flags within 0x{(int)RecordFraming.All:x}"));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowShortPadding(int offset, int length) => throw Fault(string.Create(CultureInfo.InvariantCulture,
        $"padding at offset {offset} (position {_head}) has length {length}; padding always reaches the end of the data area ({_capacity - offset} bytes from there)"));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowPaddingBeyondLap(int skipped) => throw Fault(string.Create(CultureInfo.InvariantCulture,
        $"padding records cover more than a lap ({skipped} bytes up to position {_head}); a writer never publishes more than the ring's capacity ({_capacity} bytes) ahead"));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowRecordTooLong(int offset, int length) => throw Fault(string.Create(CultureInfo.InvariantCulture,
        $"record at offset {offset} has length {length}, above the largest record {_maxRecordLength}"));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNothingPeeked() => throw new InvalidOperationException("Nothing to consume: call TryPeek and consume only after it returned true.");
}
