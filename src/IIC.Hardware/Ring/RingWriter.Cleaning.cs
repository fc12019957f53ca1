using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

// The writer's cleaning (an A/B switch, DescriptorRing.WriterCleansEnabled, off by default; docs/window-layout.md, section
// 2.5): the writer zeroes the line starts of its ring a little ahead of its tail, in lines the reader consumed a lap ago,
// so its reader stores no consumer clears. The class's documentation is in RingWriter.cs.
public sealed unsafe partial class RingWriter
{
    /// <summary>Whether this writer zeroes line starts ahead of its tail (the reader then skips its clears).</summary>
    internal bool Cleans => _cleanDistance != 0;

    /// <summary>The most bytes a cleaning batch zeroes ahead of the tail (a few KiB: the lines stay in this core's cache until written).</summary>
    private const int CleanBatch = 2048;

    /// <summary>
    /// Cleaning: zeroes the line starts from <see cref="_cleanTo"/> up to <see cref="_cleanDistance"/> ahead of the tail,
    /// but never past the cached head + capacity (lines beyond it may still be unread). Called after a reservation advanced
    /// the tail and before anything of it is published, whenever less than half the distance is clean: the reservation's
    /// room check used capacity - 64, so tail + 64 &lt;= cachedHead + capacity and the line after the new tail is always
    /// zeroed here. The reader consumed every zeroed line (its head, acquired in ReadHead or at construction, passed it) and
    /// stored that head after its last read of the line (release), so these plain stores race with nothing; they are
    /// ordered before the publish that could let the reader reach them by its release. Offsets are masked: nothing outside
    /// the data area is written.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CleanAhead()
    {
        var want = _tail + _cleanDistance;
        var limit = _cachedHead + _capacity;
        if (limit < want)
        {
            // The cached head is a lap old (it is re-read only when the room check fails): without a fresh one every
            // record near that limit would zero the line right after itself, the line a caught-up reader polls next.
            limit = RefreshHeadQuietly() + _capacity;
        }
        var to = Math.Min(want, limit);
        Debug.Assert(to >= _tail + Alignment, "a cleaning writer's reservation leaves the line after its tail free");
        for (var position = _cleanTo; position < to; position += Alignment)
        {
            *(long*)(_data + (int)(position & _mask)) = 0;
        }
        if (to > _cleanTo)
        {
            _cleanTo = to;
        }
    }

    /// <summary>
    /// Re-reads the consumer's shared head for cleaning, never throwing (the sender's fast path has no handler): once,
    /// into a local, and taken only when valid (<c>cachedHead &lt; head &lt;= tail</c>, line aligned); an invalid one is
    /// ignored here and faults the next room check that needs it (<see cref="ReadHead"/>). Acquire: the reader's reads
    /// of the lines below it happened before it stored it.
    /// </summary>
    private long RefreshHeadQuietly()
    {
        var head = Volatile.Read(ref *_sharedHead);
        if (head > _cachedHead && head <= _tail && (head & (Alignment - 1)) == 0)
        {
            _cachedHead = head;
        }
        return _cachedHead;
    }

    /// <summary>After a reservation: cleans ahead when less than half the cleaning distance is clean (never, for a writer that does not clean).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CleanIfDue()
    {
        // Not cleaning: _cleanTo is long.MaxValue, so the difference is always large (one subtract and compare per record).
        if (_cleanTo - _tail <= _cleanDistance >> 1)
        {
            CleanAhead();
        }
    }
}
