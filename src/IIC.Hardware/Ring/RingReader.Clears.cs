using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

// The consumer's clears (layout version 2; docs/window-layout.md, sections 2.3, 2.5 and 2.6): the first word of every
// consumed line is zeroed before the head store that returns it, except where the writer took that over. The class's
// documentation is in RingReader.cs.
public sealed unsafe partial class RingReader
{
    /// <summary>
    /// Consumed lines are cleared at the latest once this many bytes of them wait (or at the next head publish):
    /// small enough that they are still in this core's cache, large enough that a burst of small records is not
    /// cleared line by line between messages.
    /// </summary>
    private const int ClearBatch = 4096;

    /// <summary>Large records whose interior line starts this reader left uncleared (owned by the reading thread).</summary>
    internal long InteriorsLeft { get; private set; }

    /// <summary>Zeroes the first word of each consumed line not yet cleared (see <see cref="ClearLinesBefore"/>).</summary>
    private void ClearConsumedLines() => ClearLinesBefore(_head);

    /// <summary>
    /// Zeroes the first word of each consumed line not yet cleared up to <paramref name="to"/> (positions
    /// [_clearedHead, to)), unless the writer cleans (then nothing is stored): plain stores, ordered before the release
    /// store of the head that hands the space back. Positions are private and line aligned, and at most a lap apart, so
    /// every offset lies inside the data area (masked), nothing outside it is written, and a line is cleared once per lap.
    /// </summary>
    private void ClearLinesBefore(long to)
    {
        Debug.Assert(to <= _head && to - _clearedHead <= _capacity && ((to - _clearedHead) & (Alignment - 1)) == 0, "at most a lap of whole consumed lines waits");
        // Read once per batch: the word shares the room line this reader loads after every head publish (an L1 hit). A
        // writer that sets it zeroes every line start before reusing the line (RingWriter.CleanAhead) and never clears
        // it; one that lies only gets its own stale, still validated, records read back.
        if (Volatile.Read(ref *_writerCleans) == DescriptorRing.WriterCleansFlag)
        {
            _clearedHead = to;
            return;
        }
        for (var position = _clearedHead; position < to; position += Alignment)
        {
            *(long*)(_data + (int)(position & _mask)) = 0;
        }
        _clearedHead = to;
    }

    /// <summary>
    /// After consuming a record longer than <see cref="DescriptorRing.LargeRecordLength"/> (its aligned length
    /// <paramref name="aligned"/>, ending at the head): when the writer says it zeroes the end of any record that lands
    /// inside such a record's interior a lap later (<see cref="DescriptorRing.InteriorsLeftFlag"/>, read once here),
    /// clears the lines consumed before the record and its first line (the header) now, and leaves its interior line
    /// starts as they are (issue 17 round 23, docs/window-layout.md 2.6). Those clears were a second pass over memory the
    /// read had just streamed through (16,384 line stores per MiB), and each left a line modified in this core's cache
    /// for the writer to fetch back a lap later. Otherwise nothing: the clears happen as before.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LeaveLargeInterior(int aligned)
    {
        if (Volatile.Read(ref *_writerCleans) != DescriptorRing.InteriorsLeftFlag)
        {
            return;
        }
        ClearLinesBefore(_head - aligned + Alignment);
        _clearedHead = _head;
        InteriorsLeft++;
    }
}
