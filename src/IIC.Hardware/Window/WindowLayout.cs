namespace IIC.Hardware;

/// <summary>
/// Every offset of a shared window's header, its ring and interrupt tables and its side blocks, declared once,
/// each computed from the one before it (the way Agrona's <c>RingBufferDescriptor</c> declares its trailer).
/// docs/window-layout.md section 1 is the same table in prose; WindowLayoutDocTests parses the doc and checks
/// it against these constants. The ring's control lines are <see cref="DescriptorRing"/>'s
/// (<see cref="DescriptorRing.TailOffset"/> ...), the interrupt block's <see cref="InterruptPage"/>'s.
/// </summary>
internal static class WindowLayout
{
    /// <summary>"IICWIN01" (u64), stored last by the creator.</summary>
    public const int MagicOffset = 0;

    /// <summary>Layout version (u32).</summary>
    public const int VersionOffset = MagicOffset + sizeof(ulong);

    /// <summary>Header size (u32): <see cref="HeaderSize"/>.</summary>
    public const int HeaderSizeOffset = VersionOffset + sizeof(uint);

    /// <summary>Total window size in bytes (i64).</summary>
    public const int TotalSizeOffset = HeaderSizeOffset + sizeof(uint);

    /// <summary>Ring count (u32): 2.</summary>
    public const int RingCountOffset = TotalSizeOffset + sizeof(long);

    /// <summary>Side count (u32): 2.</summary>
    public const int SideCountOffset = RingCountOffset + sizeof(uint);

    /// <summary>Rings and sides in a window.</summary>
    public const int SideCount = 2;

    /// <summary>Bytes of one ring or interrupt table entry.</summary>
    public const int TableEntrySize = 16;

    /// <summary>The ring table: one <see cref="TableEntrySize"/> entry per ring.</summary>
    public const int RingTableOffset = SideCountOffset + sizeof(uint);

    /// <summary>The interrupt table: one entry per side.</summary>
    public const int InterruptTableOffset = RingTableOffset + (SideCount * TableEntrySize);

    /// <summary>Group mask (u32): bit s set when side s receives through an interrupt group page.</summary>
    public const int GroupMaskOffset = InterruptTableOffset + (SideCount * TableEntrySize);

    /// <summary>Bytes of one side block (a padded line of its own: the state word is polled).</summary>
    public const int SideBlockSize = Smp.PaddedLineSize;

    /// <summary>The side blocks, from the first padded line after the tables (the bytes between are reserved).</summary>
    public const int SideTableOffset = (GroupMaskOffset + sizeof(uint) + Smp.PaddedLineSize - 1) & ~(Smp.PaddedLineSize - 1);

    /// <summary>The header: the side blocks and one reserved line after them.</summary>
    public const int HeaderSize = SideTableOffset + ((SideCount + 1) * SideBlockSize);

    /// <summary>In a ring table entry: the ring's offset from the window start (i64).</summary>
    public const int RingEntryOffset = 0;

    /// <summary>In a ring table entry: the ring's data capacity (i32).</summary>
    public const int RingEntryCapacity = RingEntryOffset + sizeof(long);

    /// <summary>In an interrupt table entry: the block's offset (i64).</summary>
    public const int InterruptEntryOffset = 0;

    /// <summary>In an interrupt table entry: the block's vector count (i32; written, not read: the block's header is authoritative).</summary>
    public const int InterruptEntryVectorCount = InterruptEntryOffset + sizeof(long);

    /// <summary>In an interrupt table entry: the vector the peer's writer raises (i32).</summary>
    public const int InterruptEntryVector = InterruptEntryVectorCount + sizeof(int);

    /// <summary>In a side block: the state (i32, <see cref="SideState"/>).</summary>
    public const int SideStateOffset = 0;

    /// <summary>In a side block: the death epoch (i32).</summary>
    public const int SideEpochOffset = SideStateOffset + sizeof(int);

    /// <summary>In a side block: the attacher's pid (i32).</summary>
    public const int SidePidOffset = SideEpochOffset + sizeof(int);

    /// <summary>
    /// In a side block: why the side closed (i32, round 25; reserved before): 0 a clean close, anything else a reset (the
    /// side had bytes nobody would read). Stored before the close's compare-exchange, read by the peer only after it saw
    /// the side closed; a peer that does not read it takes every close as a clean one, as before.
    /// </summary>
    public const int SideCloseReasonOffset = SidePidOffset + sizeof(int);

    /// <summary>In a side block: the attacher's monotonic timestamp at attach (i64).</summary>
    public const int SideHeartbeatOffset = SideCloseReasonOffset + sizeof(int);

    /// <summary>The page size the creator aligns rings and the total to.</summary>
    public const int PageSize = 4096;

    /// <summary>Ring <paramref name="index"/>'s table entry.</summary>
    public static int RingEntry(int index) => RingTableOffset + (TableEntrySize * index);

    /// <summary>Side <paramref name="side"/>'s interrupt table entry.</summary>
    public static int InterruptEntry(int side) => InterruptTableOffset + (TableEntrySize * side);

    /// <summary>Side <paramref name="side"/>'s block.</summary>
    public static int SideBlock(int side) => SideTableOffset + (SideBlockSize * side);

    /// <summary>
    /// Where the creator puts the regions (a reader must not assume this: it uses the tables): the two interrupt
    /// blocks right after the header, then each ring page-aligned.
    /// </summary>
    public static Regions Plan(int capacity0, int capacity1, int interruptBlockSize)
    {
        long page0 = HeaderSize;
        var page1 = Align(page0 + interruptBlockSize, Smp.PaddedLineSize);
        var ring0 = Align(page1 + interruptBlockSize, PageSize);
        var ring1 = Align(ring0 + DescriptorRing.SizeFor(capacity0), PageSize);
        var total = Align(ring1 + DescriptorRing.SizeFor(capacity1), PageSize);
        return new Regions(page0, page1, ring0, ring1, total);
    }

    /// <summary>Rounds <paramref name="value"/> up to a multiple of <paramref name="alignment"/> (a power of two).</summary>
    public static long Align(long value, int alignment) => (value + alignment - 1) & ~(long)(alignment - 1);

    /// <summary>The creator's placement of a window's regions.</summary>
    internal readonly record struct Regions(long InterruptBlock0, long InterruptBlock1, long Ring0, long Ring1, long Total);
}
