using System.Globalization;
using System.Numerics;

namespace IIC.Hardware;

/// <summary>
/// One direction of a channel inside a shared window: a lock-free single-producer single-consumer ring of
/// records. Layout at <see cref="Offset"/>, each hot word on its own 128-byte line:
/// <code>
/// +0    producer line: tail (int64, bytes ever written; informational)
/// +128  consumer line: head (int64, bytes ever consumed; read by the producer only when short of space)
/// +256  armed line: armed (int32, 1 while the consumer may sleep; read by the producer after every publish), and at
///       +260 reader fence (int32, 1 when the consumer issues a global membarrier after arming: the producer may
///       then publish with a plain release store; 0 = the fenced exchange, as before)
/// +320  room line: room armed (int32, 1 while the producer may sleep on a full ring; read by the consumer after
///       every head publish, which wakes it on a 1 -> 0 edge with a futex wake on the head word), and at +324 writer
///       cleans (int32, 1 when the producer zeroes every line start before reusing the line: the consumer may skip
///       its clears; 2 when it zeroes the end of every record that lands in a large record's old interior: the consumer
///       may leave large records' interiors uncleared; 0 = the consumer clears, as before)
/// +384  data area: Capacity bytes (a power of two) of records, each starting on a 64-byte line
/// </code>
/// A <see cref="RingWriter"/> and a <see cref="RingReader"/> each keep their positions privately and touch the
/// shared lines only as the protocol needs.
/// </summary>
public sealed unsafe class DescriptorRing
{
    /// <summary>Offset of the tail word from the ring's start.</summary>
    internal const int TailOffset = 0;

    /// <summary>Offset of the head word from the ring's start.</summary>
    internal const int HeadOffset = Smp.PaddedLineSize;

    /// <summary>Offset of the armed word from the ring's start.</summary>
    internal const int ArmedOffset = 2 * Smp.PaddedLineSize;

    /// <summary>Offset of the consumer's "reader fence" word, next to armed (one line, read together).</summary>
    internal const int ReaderFenceOffset = ArmedOffset + 4;

    /// <summary>The reader-fence value that promises a global membarrier after every arm (see <see cref="RingReader.Arm"/>).</summary>
    internal const int ReaderFenceMembarrier = 1;

    /// <summary>Offset of the producer's "room armed" word (the other 64-byte line of the armed pair).</summary>
    internal const int RoomArmedOffset = ArmedOffset + 64;

    /// <summary>
    /// Offset of the producer's "writer cleans" word, next to room armed (a line the consumer loads after every head
    /// publish anyway): <see cref="WriterCleansFlag"/> = the producer zeroes every line start before it reuses the line,
    /// so the consumer may leave out its clears (<see cref="RingReader"/>). Sticky: never cleared once set.
    /// </summary>
    internal const int WriterCleansOffset = RoomArmedOffset + 4;

    /// <summary>The "writer cleans" value that lets the consumer skip its clears (any other value: the consumer clears).</summary>
    internal const int WriterCleansFlag = 1;

    /// <summary>
    /// The "writer cleans" value by which the producer promises to zero the line start at the end of every record that
    /// ends inside the interior of a record longer than <see cref="LargeRecordLength"/> of the lap before (and, when it
    /// attaches to a ring already written, at the end of every record of its first lap), before that record's publish; so
    /// the consumer may leave those interiors' line starts uncleared (issue 17 round 23, docs/window-layout.md 2.6). The
    /// consumer clears every other line as before. Sticky, as <see cref="WriterCleansFlag"/>.
    /// </summary>
    internal const int InteriorsLeftFlag = 2;

    /// <summary>
    /// Records whose aligned length exceeds this (64 KiB) are large: with <see cref="InteriorsLeftFlag"/>, the consumer
    /// clears only their first line. A protocol constant: the writer's rule must cover exactly what the reader leaves.
    /// At this size the clears of one record were already a thousand stores into lines the read had just passed, and a
    /// lap later the writer fetched each back modified; below it, small messages (which are latency's concern) keep the
    /// protocol they had, and the writer's check is one compare.
    /// </summary>
    internal const int LargeRecordLength = 64 << 10;

    /// <summary>Offset of the data area from the ring's start.</summary>
    internal const int DataOffset = 3 * Smp.PaddedLineSize;

    /// <summary>The smallest data area.</summary>
    public const int MinCapacity = 1024;

    /// <summary>The largest data area (1 GiB).</summary>
    public const int MaxCapacity = 1 << 30;

    /// <summary>
    /// Records start on this boundary (a cache line, layout version 2): a message of up to 56 bytes and its header
    /// share one line, and the consumer clears the first word of each line it consumed.
    /// </summary>
    public const int RecordAlignment = 64;

    /// <summary>A record (header + payload) is at most this fraction of the capacity; larger messages are fragmented.</summary>
    public const int MaxRecordFraction = 4;

    private readonly byte* _ring;

    /// <summary>Describes a ring at <paramref name="ringStart"/>; the caller keeps the memory mapped (leased) for the ring's life.</summary>
    /// <param name="ringStart">The first byte of the ring (its tail line), 128-byte aligned.</param>
    /// <param name="offset">The ring's offset in its window, for messages.</param>
    /// <param name="capacity">The data area's size: a power of two from <see cref="MinCapacity"/> to <see cref="MaxCapacity"/>.</param>
    /// <param name="name">A name for exception messages, e.g. "window 7 ring 0".</param>
    /// <exception cref="ArgumentException">A bad capacity or a misaligned start.</exception>
    internal DescriptorRing(byte* ringStart, long offset, int capacity, string name)
    {
        ValidateCapacity(capacity);
        if (((nint)ringStart & (Smp.PaddedLineSize - 1)) != 0)
        {
            throw new ArgumentException($"A ring must start on a {Smp.PaddedLineSize}-byte boundary.", nameof(ringStart));
        }
        _ring = ringStart;
        Offset = offset;
        Capacity = capacity;
        Name = name ?? throw new ArgumentNullException(nameof(name));
    }

    /// <summary>The ring's offset in its window.</summary>
    public long Offset { get; }

    /// <summary>The data area's size in bytes.</summary>
    public int Capacity { get; }

    /// <summary>The largest record (header + payload) the ring carries in one piece.</summary>
    public int MaxRecordLength => Capacity / MaxRecordFraction;

    /// <summary>The name used in exception messages.</summary>
    public string Name { get; }

    /// <summary>The bytes a ring of <paramref name="capacity"/> occupies in a window (control lines + data).</summary>
    public static long SizeFor(int capacity) => DataOffset + (long)capacity;

    /// <summary>Throws unless <paramref name="capacity"/> is a power of two within the limits.</summary>
    /// <exception cref="ArgumentOutOfRangeException">It is not.</exception>
    public static void ValidateCapacity(int capacity)
    {
        if (capacity < MinCapacity || capacity > MaxCapacity || !BitOperations.IsPow2(capacity))
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, string.Create(CultureInfo.InvariantCulture,
                $"A ring capacity must be a power of two from {MinCapacity} to {MaxCapacity} bytes; use e.g. {BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(capacity, MinCapacity, MaxCapacity))}."));
        }
    }

    internal long* Tail => (long*)(_ring + TailOffset);

    internal long* Head => (long*)(_ring + HeadOffset);

    internal int* Armed => (int*)(_ring + ArmedOffset);

    internal int* ReaderFence => (int*)(_ring + ReaderFenceOffset);

    internal int* RoomArmed => (int*)(_ring + RoomArmedOffset);

    internal int* WriterCleans => (int*)(_ring + WriterCleansOffset);

    internal byte* Data => _ring + DataOffset;

    /// <summary>
    /// Bytes published and not yet consumed, from the shared words (for gauges; may be momentarily stale), or -1 when the
    /// words are inconsistent (a corrupt peer). Reads the mapping: the caller must hold it mapped (a lease or a reference on
    /// its handle) for the duration of the call; after the window is unmapped this faults (IicChannel.GetStatistics guards it).
    /// </summary>
    public long Occupancy
    {
        get
        {
            var used = Volatile.Read(ref *Tail) - Volatile.Read(ref *Head);
            return used < 0 || used > Capacity ? -1 : used;
        }
    }

    /// <summary>Creates the producer end. Exactly one writer per ring, used by one thread at a time.</summary>
    public RingWriter CreateWriter() => new(this, AsymmetricFenceEnabled && IIC.Native.Membarrier.IsAvailable, NewWriterCleans);

    /// <summary>Creates the producer end, choosing whether it may publish without a fence (tests).</summary>
    internal RingWriter CreateWriter(bool asymmetricFence) => new(this, asymmetricFence && IIC.Native.Membarrier.IsAvailable, NewWriterCleans);

    /// <summary>Whether a writer made now for this ring cleans: every ring with the switch on, else a large ring (see <see cref="WriterCleansFromCapacity"/>).</summary>
    private bool NewWriterCleans => WriterCleansEnabled || (WriterCleansLargeRings && Capacity >= WriterCleansFromCapacity);

    /// <summary>
    /// The smallest ring whose writer cleans by default (16 MiB; issue 17, round 11b): a ring that large is sized for
    /// records of megabytes (its largest record is a quarter of it), which leave the reader's cache before it consumes
    /// them, so the consumer clears after the read were a second pass over memory, a line fetched and written back per
    /// 64 bytes delivered (perf/RESULTS.md, "Round 11 (branch large)"). The writer's cleaning zeroes only the line
    /// starts just after its tail, which it writes next anyway. Smaller rings (the default 1 MiB, where small messages'
    /// round trips are measured) keep the consumer's clears.
    /// </summary>
    internal const int WriterCleansFromCapacity = 16 << 20;

    /// <summary>
    /// Whether rings of <see cref="WriterCleansFromCapacity"/> or more get a cleaning writer by default (true);
    /// <c>IIC_WRITER_CLEANS=0</c> in the environment starts it false (the A/B switch: the consumer clears on every ring,
    /// as before round 11b). Read only when a writer is made.
    /// </summary>
    internal static bool WriterCleansLargeRings { get; set; } = Environment.GetEnvironmentVariable("IIC_WRITER_CLEANS") != "0";

    /// <summary>Creates the producer end, choosing its fence and whether it cleans lines ahead of its tail (tests).</summary>
    internal RingWriter CreateWriter(bool asymmetricFence, bool writerCleans) => new(this, asymmetricFence && IIC.Native.Membarrier.IsAvailable, writerCleans);

    /// <summary>
    /// The A/B switch of the writer's cleaning (<see cref="RingWriter"/>, "writer cleans"): writers made while it is true
    /// zero the line starts a little ahead of their tail, in lines the reader consumed a lap ago, and say so in the ring's
    /// writer-cleans word, and their readers leave out the consumer clears (one coherence transaction fewer per line: the
    /// reader's clear was an upgrade of a line the writer then had to fetch back). Off by default (the consumer clears, as
    /// layout version 2 has always done, except on rings of <see cref="WriterCleansFromCapacity"/> or more);
    /// <c>IIC_WRITER_CLEANS=1</c> in the environment starts it true (every ring). Read only when a writer is made.
    /// </summary>
    internal static bool WriterCleansEnabled { get; set; } = Environment.GetEnvironmentVariable("IIC_WRITER_CLEANS") == "1";

    /// <summary>
    /// Whether writers that do not clean promise <see cref="InteriorsLeftFlag"/> (true; issue 17 round 23):
    /// <c>IIC_LARGE_INTERIORS=0</c> in the environment starts it false, so the consumer clears every line as before (the
    /// A/B switch). Read only when a writer is made; a ring whose word already holds the flag keeps it whatever this says.
    /// </summary>
    internal static bool InteriorsLeftEnabled { get; set; } = Environment.GetEnvironmentVariable("IIC_LARGE_INTERIORS") != "0";

    /// <summary>
    /// The A/B switch of the writer's pre-own store (<see cref="RingWriter"/>, "owns the next line"; issue 17 round 11):
    /// writers made while it is true store 0 into the last word of the line at their tail after each publish, so the line
    /// the next record goes to is already in this core's cache, modified, when that record is written, and the publish
    /// no longer waits for the line's ownership (perf/IIC.LineLab: store-next-1M against counters-1M).
    /// <c>IIC_OWN_NEXT_LINE=0</c> in the environment starts it false. Read only when a writer is made.
    /// </summary>
    internal static bool OwnNextLineEnabled { get; set; } = Environment.GetEnvironmentVariable("IIC_OWN_NEXT_LINE") != "0";

    /// <summary>Creates the consumer end. Exactly one reader per ring, used by one thread at a time.</summary>
    public RingReader CreateReader() => new(this, AsymmetricFenceEnabled && IIC.Native.Membarrier.IsAvailable);

    /// <summary>
    /// The in-process A/B switch of perf/IIC.Benchmarks' echo: ring ends made while it is false use the fenced
    /// exchange whatever the kernel offers. Read only when an end is made, never on the data path.
    /// </summary>
    internal static bool AsymmetricFenceEnabled { get; set; } = true;

    /// <summary>
    /// The A/B switch of the reader's hold-back (<see cref="RingReader.HoldBackLimit"/>): readers made while it is false
    /// return every consumed record at once (as before round 6). <c>IIC_HOLD_BACK=0</c> in the environment starts it
    /// false (for A/B runs of whole processes, as perf/IIC.Perf's); perf/IIC.Benchmarks' echo flips it in process
    /// (<c>ab-holdback</c>). Read only when a reader is made.
    /// </summary>
    internal static bool HoldBackEnabled { get; set; } = Environment.GetEnvironmentVariable("IIC_HOLD_BACK") != "0";

    /// <summary>
    /// The A/B switch of the reader's look at the next header right after a consume (<see cref="RingReader.ConsumeLazily"/>):
    /// readers made while it is true load the next record's length word before returning. <c>IIC_LOOK_AHEAD=1</c> in the
    /// environment starts it true (the round-6 behaviour); perf/IIC.Benchmarks' echo flips it in process
    /// (<c>ab-lookahead</c>). Read only when a reader is made.
    /// </summary>
    internal static bool LookAheadEnabled { get; set; } = Environment.GetEnvironmentVariable("IIC_LOOK_AHEAD") == "1";

    /// <summary>Creates the consumer end, choosing its arm fence (tests: false = today's exchange, whatever the kernel offers).</summary>
    internal RingReader CreateReader(bool asymmetricFence) => new(this, asymmetricFence && IIC.Native.Membarrier.IsAvailable);

    /// <summary>The service whose channel uses this ring, named in the <c>RingFault</c> trace event (set by the transport).</summary>
    public string? Service { get; set; }

    internal RingFaultException Fault(string what)
    {
        var message = $"Ring '{Name}' (window offset {Offset}, capacity {Capacity}) is corrupt: {what}. The peer is buggy or hostile; the channel is faulted.";
        IicEventSource.Log.RingFault(Service ?? "", Name, Environment.ProcessId, message);
        return new(message);
    }
}
