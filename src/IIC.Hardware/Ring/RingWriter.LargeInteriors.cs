using System.Runtime.CompilerServices;

namespace IIC.Hardware;

// Large interiors left (issue 17 round 23; docs/window-layout.md, section 2.6): the consumer clears only the first line
// of a record longer than DescriptorRing.LargeRecordLength, so a lap later this writer zeroes the line start at the end
// of any record that lands inside such an interior. The class's documentation is in RingWriter.cs.
public sealed unsafe partial class RingWriter
{
    /// <summary>Line starts at the end of a record that this writer zeroed because they may hold an old large record's payload (tests; owned by the writing thread).</summary>
    internal long EndsZeroed { get; private set; }

    /// <summary>Whether this writer promised <see cref="DescriptorRing.InteriorsLeftFlag"/>.</summary>
    internal bool LeavesInteriors => _largeAbove != int.MaxValue;

    /// <summary>
    /// Starts the rule when this writer promises it: on a ring already written (a writer that resumes one), any line of
    /// the lap behind the tail may be an interior its reader left, so every record of the first lap gets its end zeroed.
    /// </summary>
    private void StartLeavingInteriors()
    {
        _largeAbove = DescriptorRing.LargeRecordLength;
        if (_tail != 0)
        {
            _staleFrom = _tail;
            _staleBefore = _tail + _capacity;
        }
    }

    /// <summary>
    /// After a reservation advanced the tail to the end of a record of <paramref name="aligned"/> bytes, before anything
    /// of it is published: one compare for the end and one for the size, false for every small record outside an old
    /// large record's interior (the common case, in line). At a wrap <paramref name="aligned"/> is the padding and the
    /// record together: the reader leaves a large padding's interior as it leaves a large record's, and the extent's
    /// interior covers both (the record's own first line in it is one more end zeroed in vain, never a lost one).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ZeroEndIfStale(int aligned)
    {
        if ((ulong)(_tail - _staleFrom) < (ulong)(_staleBefore - _staleFrom) || aligned > _largeAbove)
        {
            NoteRecordEnd(aligned);
        }
    }

    /// <summary>
    /// The rule, out of line. If the record's end (the line the reader polls after it) lies in [_staleFrom, _staleBefore),
    /// where line starts may still hold a large record's payload from the lap before (its reader left them), a plain store
    /// of 0 there; ordered before the publish by its release (or the exchange). Only below the cached head plus a lap
    /// (strictly): that line is free space the reader has finished with (its head, acquired, passed the line a lap ago).
    /// An end strictly inside an old large record's interior always is (a head is a record start, so the cached head has
    /// passed that record: the room check bounds the end by it plus a lap); the one end the bound leaves out, the cached
    /// head plus a lap, is the oldest unconsumed record's header, which the range's over-approximation between large
    /// records can cover, and zeroing it lost that record (a hang the cross-process test found). Zeroing a line start that
    /// already reads 0 changes nothing. Then, if this
    /// record is large, its interior (from its second line to its end) becomes the range for the next lap, joined to the
    /// current one while that still lies ahead.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NoteRecordEnd(int aligned)
    {
        var end = _tail;
        // Below the cached head plus a lap, strictly: at exactly that bound the line is the oldest unconsumed record's
        // header (a record start of the lap before, never an interior), which the range's over-approximation covers.
        if ((ulong)(end - _staleFrom) < (ulong)(_staleBefore - _staleFrom) && end - _cachedHead < _capacity)
        {
            *(long*)(_data + (int)(end & _mask)) = 0;
            EndsZeroed++;
        }
        if (aligned > _largeAbove)
        {
            if (_staleBefore <= end)
            {
                // The old range lies behind every later end: start a new one at this record's second line, a lap on.
                _staleFrom = end - aligned + Alignment + _capacity;
            }
            _staleBefore = end + _capacity;
        }
    }
}
