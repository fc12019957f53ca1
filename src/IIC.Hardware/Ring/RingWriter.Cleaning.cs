using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

// The writer's cleaning (DescriptorRing.WriterCleansEnabled, on by default only for rings of 16 MiB or more; docs/window-layout.md, section
// 2.5): the writer zeroes the line starts of its ring a little ahead of its tail, in lines the reader consumed a lap ago,
// so its reader stores no consumer clears. The class's documentation is in RingWriter.cs.
public sealed unsafe partial class RingWriter
{
    /// <summary>Line starts this writer zeroed ahead of its tail (tests: a large record's interior is never among them; owned by the writing thread).</summary>
    internal long LinesCleaned { get; private set; }

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
    /// <para>Only line starts a reader can poll need zeroing: the start of every record (its header, 0 until the publish)
    /// and the line after the tail. The lines inside the record just reserved are its own payload (or padding the reader
    /// skips by length), so only the record's first line, <paramref name="recordStart"/>, is zeroed when it is past
    /// <see cref="_cleanTo"/>, and the loop then starts at the tail: a 64 MiB record no longer zeroes its million line
    /// starts just before its payload overwrites them (a second pass over memory already out of the cache; round 11's
    /// version still started the loop at the record's first line, so it did: perf/RESULTS.md "Round 11 (branch large)").
    /// At a wrap the record starts at the new lap's offset 0, after the padding; that line is zeroed here, before the
    /// padding is published, so a reader following the padding waits at 0. An aborted claim zeroes its own lines
    /// (<see cref="Abort"/>), so skipping the interior leaves no stale line start behind the rewound tail.</para>
    /// </summary>
    /// <param name="recordStart">The position of the first line of the record just reserved (<c>_tail - aligned</c>).</param>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CleanAhead(long recordStart)
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
        if (recordStart >= _cleanTo)
        {
            // The record's own header line, not yet clean (a wrap: the record starts the new lap past the clean lines).
            *(long*)(_data + (int)(recordStart & _mask)) = 0;
        }
        // Then the line starts after the tail. Never the record's interior [recordStart + 64, _tail): its payload
        // overwrites them, and zeroing them first was a second pass over a large record's memory (round 11b).
        for (var position = Math.Max(_cleanTo, _tail); position < to; position += Alignment)
        {
            *(long*)(_data + (int)(position & _mask)) = 0;
            LinesCleaned++;
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
    /// <param name="recordStart">The position of the first line of the record just reserved (see <see cref="CleanAhead"/>).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CleanIfDue(long recordStart)
    {
        // Not cleaning: _cleanTo is long.MaxValue, so the difference is always large (one subtract and compare per record).
        if (_cleanTo - _tail <= _cleanDistance >> 1)
        {
            CleanAhead(recordStart);
        }
    }
}
