using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// A sealed memfd window shared by exactly two sides: a versioned header, one interrupt block per side (where
/// that side sleeps), and two <see cref="DescriptorRing"/>s, ring i written by side i and read by side 1-i.
/// Everything is addressed by offsets, little-endian; the byte layout is in docs/window-layout.md and, offset by offset, in <see cref="WindowLayout"/>.
/// <para>The creator sizes the memfd and seals it (shrink, grow, seal) so no peer can make our mapping fault.
/// The opener checks seals, size, magic, version and every layout field (read once) before using anything.</para>
/// </summary>
public sealed unsafe class SharedWindow : IDisposable
{
    /// <summary>"IICWIN01" little-endian.</summary>
    internal const ulong Magic = 0x3130_4E49_5743_4949;

    /// <summary>The layout version this build reads and writes.</summary>
    internal const uint LayoutVersion = 2;

    /// <summary>Bytes of the header.</summary>
    public const int HeaderSize = WindowLayout.HeaderSize;

    /// <summary>Vectors in each embedded interrupt block.</summary>
    internal const int EmbeddedVectorCount = 64;

    /// <summary>The seals every window must carry.</summary>
    internal const FileSeals RequiredSeals = SealedMemory.RequiredSeals;

    private readonly MappedMemory _memory;
    private readonly MappingLease _lease;
    // One entry per side, inline in this object (SidePair): a window opened per connection allocates no arrays.
    private SidePair<DescriptorRing> _rings;
    private SidePair<InterruptPage?> _pages;
    private SidePair<InterruptPage> _ownPages; // each side's own block, a grouped side's too (where it sleeps while out of its group)
    private SidePair<int> _vectors;
    private SidePair<MappingLease?> _groupLeases;
    private SidePair<InterruptGroup?> _ownedGroups;
    private SidePair<bool> _groupSides;
    private int _disposed;

    private SharedWindow(FileDescriptor file, MappedMemory memory, in SidePair<DescriptorRing> rings, in SidePair<InterruptPage?> pages, in SidePair<InterruptPage> ownPages, in SidePair<int> vectors, in SidePair<bool> groupSides)
    {
        File = file;
        _memory = memory;
        _lease = memory.Lease();
        _rings = rings;
        _pages = pages;
        _ownPages = ownPages;
        _vectors = vectors;
        _groupSides = groupSides;
    }

    /// <summary>The memfd (to hand to the other side over SCM_RIGHTS).</summary>
    public FileDescriptor File { get; }

    /// <summary>The window's size in bytes.</summary>
    public long Size => _memory.Length;

    /// <summary>The mapping (for tests and tools that inspect the raw bytes).</summary>
    public MappedMemory Memory => _memory;

    /// <summary>Creates, sizes, seals and maps a new window and writes its header.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A ring capacity is not a power of two within the limits.</exception>
    /// <exception cref="NativeException">The kernel refused (e.g. EMFILE, ENOMEM).</exception>
    public static SharedWindow Create(WindowOptions options, string name = "iic-window")
    {
        ArgumentNullException.ThrowIfNull(options);
        DescriptorRing.ValidateCapacity(options.RingCapacity0);
        DescriptorRing.ValidateCapacity(options.RingCapacity1);
        ValidateGroupVector(options.GroupVector0, nameof(options.GroupVector0));
        ValidateGroupVector(options.GroupVector1, nameof(options.GroupVector1));
        var (file, memory) = SealedMemory.Create(name, PlanFor(options).Total);
        return Format(options, file, memory);
    }

    /// <summary>The creator's placement of a window of <paramref name="options"/>' ring sizes.</summary>
    internal static WindowLayout.Regions PlanFor(WindowOptions options)
        => WindowLayout.Plan(options.RingCapacity0, options.RingCapacity1, InterruptPage.SizeFor(EmbeddedVectorCount));

    /// <summary>
    /// Writes the header of a file made by <see cref="SealedMemory.Create"/> for <paramref name="options"/>
    /// (<see cref="PlanFor"/>'s total size) that nobody else ever had (a fresh memfd: all zeros, except pages a
    /// pool touched with zeros), and opens it. Takes ownership of both; disposes them if it throws.
    /// </summary>
    internal static SharedWindow Format(WindowOptions options, FileDescriptor file, MappedMemory memory)
    {
        var plan = PlanFor(options);
        var total = plan.Total;
        Debug.Assert(total > HeaderSize && plan.Ring0 >= HeaderSize && plan.Ring1 > plan.Ring0, "the plan puts the rings after the header, in order");
        Debug.Assert(memory.Length == total, "the file was made for these options");
        try
        {
            using (var lease = memory.Lease())
            {
                WriteHeader(lease.Base, options, plan);
            }
            return Attach(file, memory);
        }
        catch
        {
            memory.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes a window's header for <paramref name="options"/> placed by <paramref name="plan"/> at <paramref name="b"/>:
    /// the mapped window's first byte (<see cref="Format"/>), or a zeroed buffer of <see cref="HeaderExtent"/> bytes that
    /// the hypervisor then writes into the file (<see cref="HeldWindow"/>). The options were validated by the caller.
    /// </summary>
    internal static void WriteHeader(byte* b, WindowOptions options, in WindowLayout.Regions plan)
    {
        *(uint*)(b + WindowLayout.VersionOffset) = LayoutVersion;
        *(uint*)(b + WindowLayout.HeaderSizeOffset) = HeaderSize;
        *(long*)(b + WindowLayout.TotalSizeOffset) = plan.Total;
        *(uint*)(b + WindowLayout.RingCountOffset) = WindowLayout.SideCount;
        *(uint*)(b + WindowLayout.SideCountOffset) = WindowLayout.SideCount;
        WriteRingEntry(b, 0, plan.Ring0, options.RingCapacity0);
        WriteRingEntry(b, 1, plan.Ring1, options.RingCapacity1);
        WriteInterruptEntry(b, 0, plan.InterruptBlock0, options.GroupVector0 ?? 0);
        WriteInterruptEntry(b, 1, plan.InterruptBlock1, options.GroupVector1 ?? 0);
        *(uint*)(b + WindowLayout.GroupMaskOffset) = (options.GroupVector0 is null ? 0u : 1u) | (options.GroupVector1 is null ? 0u : 2u);
        InterruptPage.WriteHeader(b + plan.InterruptBlock0, EmbeddedVectorCount);
        InterruptPage.WriteHeader(b + plan.InterruptBlock1, EmbeddedVectorCount);
        // W1 (docs/architecture.md): last, with release; partner W2, Attach's acquire load of the magic (an opener in
        // another process sees the whole header once it sees the magic). Into a buffer that is pwritten, the order
        // inside the buffer does not matter: nobody else has the file before the pwrite returns (see HeldWindow).
        Volatile.Write(ref *(ulong*)(b + WindowLayout.MagicOffset), Magic);
    }

    /// <summary>The bytes <see cref="WriteHeader"/> writes for <paramref name="plan"/>: from the window's start to the end of the second interrupt block.</summary>
    internal static int HeaderExtent(in WindowLayout.Regions plan) => (int)plan.InterruptBlock1 + InterruptPage.SizeFor(EmbeddedVectorCount);

    /// <summary>
    /// The state change of <see cref="MarkDead"/> on a side block at <paramref name="block"/> (this process's mapping of
    /// a window): a side that already closed cleanly stays <see cref="SideState.Closed"/>. The word may hold anything a
    /// partition wrote; it is read once and only compared.
    /// </summary>
    internal static void MarkDeadAt(byte* block)
    {
        if (Volatile.Read(ref *(int*)block) != (int)SideState.Closed)
        {
            // W5: the epoch first, then the state (full fences): partner W4 sees the new epoch with Dead.
            Interlocked.Increment(ref *(int*)(block + WindowLayout.SideEpochOffset));
            Interlocked.Exchange(ref *(int*)block, (int)SideState.Dead);
        }
    }

    /// <summary>
    /// Opens a window received from another process, taking ownership of <paramref name="file"/>. Checks the
    /// seals (a peer that could shrink the file could crash us with SIGBUS), the size and the whole header.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a valid, sealed window of this layout version.</exception>
    public static SharedWindow Open(FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var memory = SealedMemory.Open(file, HeaderSize + (2 * DescriptorRing.SizeFor(DescriptorRing.MinCapacity)), 1L << 32, "window");
        try
        {
            return Attach(file, memory);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>Ring <paramref name="index"/> (0 or 1): written by side <paramref name="index"/>.</summary>
    public DescriptorRing GetRing(int index) => _rings[CheckSide(index)];

    /// <summary>The interrupt block where side <paramref name="side"/> sleeps (its own block, or its group's page).</summary>
    /// <exception cref="InvalidOperationException">The side receives through a group page that was not attached.</exception>
    public InterruptPage GetInterruptPage(int side) => _pages[CheckSide(side)]
        ?? throw new InvalidOperationException($"Side {side} of this window receives through an interrupt group page; attach it with AttachGroup first.");

    /// <summary>Whether side <paramref name="side"/> receives through an external <see cref="InterruptGroup"/>.</summary>
    public bool IsGrouped(int side) => _groupSides[CheckSide(side)];

    /// <summary>
    /// Supplies the group page that side <paramref name="side"/> receives through (the owner's own group, or the
    /// peer's group handed over with the window). The window keeps the group mapped until it is disposed.
    /// </summary>
    /// <exception cref="InvalidOperationException">The side is not grouped, or already has its page.</exception>
    /// <exception cref="InvalidDataException">The window's vector is outside the group's page.</exception>
    /// <param name="side">The grouped side.</param>
    /// <param name="group">The group page.</param>
    /// <param name="ownsGroup">Dispose the group with this window (a peer's group page received with the grant).</param>
    internal void AttachGroup(int side, InterruptGroup group, bool ownsGroup = false)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!_groupSides[CheckSide(side)] || _pages[side] is not null)
        {
            throw new InvalidOperationException($"Side {side} of this window {(_groupSides[side] ? "already has its group page" : "is not grouped: it sleeps on its own block")}.");
        }
        if ((uint)_vectors[side] >= (uint)group.Page.VectorCount)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"The window names vector {_vectors[side]} for side {side}, outside the group's {group.Page.VectorCount} vectors."));
        }
        _groupLeases[side] = group.Memory.Lease();
        _pages[side] = group.Page;
        if (ownsGroup)
        {
            _ownedGroups[side] = group;
        }
    }

    /// <summary>
    /// Side <paramref name="side"/>'s own interrupt block, even when it is grouped: a grouped side sleeps there while it
    /// waits alone (out of any channel group), raised there by the peer while the group mask routes raises to it
    /// (<see cref="RouteRaises"/>).
    /// </summary>
    internal InterruptPage GetOwnInterruptPage(int side) => _ownPages[CheckSide(side)];

    /// <summary>
    /// The group mask word: bit s set while the writer of ring (1 - s) raises side s's group page, clear while it raises
    /// side s's own block (a grouped side out of its group, waiting alone). Read by the peer's doorbell only when the ring
    /// is armed; written only by side s's receiver (a peer that flips it delays only its own channel).
    /// </summary>
    internal uint* GroupMaskWord => (uint*)(_lease.Base + WindowLayout.GroupMaskOffset);

    /// <summary>Routes the peer's raises for grouped side <paramref name="side"/> to its group page (true) or its own block (false); full fence.</summary>
    internal void RouteRaises(int side, bool toGroupPage)
    {
        var bit = 1u << CheckSide(side);
        var current = Volatile.Read(ref *GroupMaskWord);
        if (((current & bit) != 0) == toGroupPage)
        {
            return;
        }
        if (toGroupPage)
        {
            Interlocked.Or(ref *GroupMaskWord, bit);
        }
        else
        {
            Interlocked.And(ref *GroupMaskWord, ~bit);
        }
    }

    /// <summary>The vector that the writer of ring (1 - <paramref name="side"/>) raises on side <paramref name="side"/>'s block.</summary>
    public int GetVector(int side) => _vectors[CheckSide(side)];

    /// <summary>Reads side <paramref name="side"/>'s state block (each word once).</summary>
    public SideStatus ReadSide(int side)
    {
        var block = SideBlock(side);
        var state = Volatile.Read(ref *(int*)block); // W4: acquire; partners W3 and W5 (epoch is bumped before Dead is stored)
        var epoch = Volatile.Read(ref *(int*)(block + WindowLayout.SideEpochOffset));
        var pid = Volatile.Read(ref *(int*)(block + WindowLayout.SidePidOffset));
        return new SideStatus(state is >= 0 and <= (int)SideState.Dead ? (SideState)state : SideState.Dead, epoch, pid);
    }

    /// <summary>
    /// Whether <paramref name="side"/> closed with a reset (<see cref="MarkClosed(int, bool)"/>) rather than cleanly; read
    /// it only after <see cref="ReadSideState"/> returned <see cref="SideState.Closed"/>.
    /// </summary>
    public bool ReadCloseReset(int side)
    {
        // Read once; anything but 0 (a clean close) reads as a reset, as any unknown state reads as dead. Meaningful
        // only after the side was read Closed (acquire), which orders this load after the closer's store.
        return Volatile.Read(ref *(int*)(SideBlock(side) + WindowLayout.SideCloseReasonOffset)) != 0;
    }

    /// <summary>Side <paramref name="side"/>'s state word alone (one acquire load), for spin loops.</summary>
    public SideState ReadSideState(int side)
    {
        var state = Volatile.Read(ref *(int*)SideBlock(side)); // W4: acquire; partners W3 and W5
        return state is >= 0 and <= (int)SideState.Dead ? (SideState)state : SideState.Dead;
    }

    /// <summary>The state word of side <paramref name="side"/>, for hot paths that hold a lease (read it with acquire; any value outside 0-3 means dead).</summary>
    internal int* SideStateWord(int side) => (int*)SideBlock(side);

    /// <summary>Records that <paramref name="processId"/> attached to <paramref name="side"/>.</summary>
    public void MarkAttached(int side, int processId)
    {
        var block = SideBlock(side);
        Volatile.Write(ref *(int*)(block + WindowLayout.SidePidOffset), processId);
        Volatile.Write(ref *(int*)(block + WindowLayout.SideCloseReasonOffset), 0); // no reason left from an earlier use
        Volatile.Write(ref *(long*)(block + WindowLayout.SideHeartbeatOffset), System.Diagnostics.Stopwatch.GetTimestamp());
        // W3: release; partner W4 (a reader that sees Attached sees the pid and heartbeat).
        Volatile.Write(ref *(int*)(block + WindowLayout.SideStateOffset), (int)SideState.Attached);
    }

    /// <summary>
    /// Marks <paramref name="side"/> closed (from attached, or from empty: a grant given up before it was opened, such
    /// as a connection its listener never accepted) and wakes the other side if it sleeps, so a blocked receive sees it.
    /// A dead side stays dead.
    /// </summary>
    public void MarkClosed(int side) => MarkClosed(side, reset: false);

    /// <summary>
    /// As <see cref="MarkClosed(int)"/>; with <paramref name="reset"/> the side's close reason says the connection was
    /// reset (this side had bytes nobody would read), so the peer's receive can tell it from a clean close
    /// (<see cref="ReadCloseReset"/>; docs/window-layout.md section 1, round 25). The reason is stored before the close's
    /// compare-exchange (W5, a full fence), so a peer that reads the side closed (W4, acquire) reads the reason too.
    /// </summary>
    public void MarkClosed(int side, bool reset)
    {
        var word = (int*)SideBlock(side);
        if (reset)
        {
            Volatile.Write(ref *(int*)((byte*)word + WindowLayout.SideCloseReasonOffset), 1);
        }
        // W5: a full fence after this side's last publish; partner W4 in the receiver the raise below wakes.
        if (Interlocked.CompareExchange(ref *word, (int)SideState.Closed, (int)SideState.Attached) == (int)SideState.Empty)
        {
            // Never attached (only this side's owner attaches it, and it is closing it): closed all the same, so a peer
            // already sending (the connector hears of its grant first) sees the end of the stream, not a silent window.
            Interlocked.CompareExchange(ref *word, (int)SideState.Closed, (int)SideState.Empty);
        }
        // The futex call only for a receiver that announced sleep: the CAS above is the full fence before the load of its
        // flag, and every sleeper re-checks the peer's state (PeerGone) and the pending bits after announcing (R3), so an
        // awake receiver sees Closed by itself (issue 17 item 5: two futex wakes per close for nobody, before).
        var other = 1 - side;
        _pages[other]?.RaiseIfSleeping(_vectors[other]);
        if (_groupSides[other])
        {
            _ownPages[other].WakeIfSleeping(); // a grouped side waiting alone sleeps on its own block
        }
    }

    /// <summary>
    /// Marks <paramref name="side"/> dead with a new epoch and wakes the other side (the hypervisor does this
    /// when a partition dies). A side that already closed cleanly stays <see cref="SideState.Closed"/>.
    /// </summary>
    public void MarkDead(int side)
    {
        MarkDeadAt(SideBlock(side));
        WakeOther(side);
    }

    /// <summary>Wakes side (1 - <paramref name="side"/>): its group page's vector (or its own block), and a grouped side's own block too, where it sleeps while it waits alone.</summary>
    private void WakeOther(int side)
    {
        _pages[1 - side]?.RaiseAlways(_vectors[1 - side]);
        if (_groupSides[1 - side])
        {
            _ownPages[1 - side].WakeAlways();
        }
    }

    /// <summary>Unmaps (once no ring end still leases the mapping) and closes the descriptor.</summary>
    public void Dispose() => Dispose(deferUnmap: false);

    /// <summary>
    /// Disposes the window; with <paramref name="deferUnmap"/> the final munmap runs on <see cref="DeferredUnmap"/>'s
    /// thread (a channel's close: the caller does not wait for the page-table teardown). Everything else (the
    /// descriptor, group leases) is released now either way. The caller holds no lease that outlives this call.
    /// </summary>
    internal void Dispose(bool deferUnmap)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _lease.Dispose();
        if (deferUnmap)
        {
            DeferredUnmap.Release(_memory); // our reference; munmap when the thread drops it (the last one)
        }
        else
        {
            _memory.Dispose();
        }
        File.Dispose();
        foreach (var lease in _groupLeases)
        {
            lease?.Dispose();
        }
        foreach (var group in _ownedGroups)
        {
            group?.Dispose();
        }
    }

    /// <summary>A lease that keeps the mapping alive (ring ends hold one while they use raw pointers).</summary>
    public MappingLease Lease() => _memory.Lease();

    private byte* SideBlock(int side) => _lease.Base + WindowLayout.SideBlock(CheckSide(side));

    private static int CheckSide(int side)
    {
        if ((uint)side > 1)
        {
            ThrowNotASide(side);
        }
        return side;
    }

    [DoesNotReturn]
    private static void ThrowNotASide(int side) => throw new ArgumentOutOfRangeException(nameof(side), side, "A window has sides 0 and 1.");

    private static SharedWindow Attach(FileDescriptor file, MappedMemory memory)
    {
        using var lease = memory.Lease();
        var b = lease.Base;
        var size = memory.Length;
        // Every header word is read exactly once into a local and validated before use.
        var magic = Volatile.Read(ref *(ulong*)(b + WindowLayout.MagicOffset)); // W2: acquire; partner W1, Create's release store of the magic
        var version = *(uint*)(b + WindowLayout.VersionOffset);
        var headerSize = *(uint*)(b + WindowLayout.HeaderSizeOffset);
        var total = *(long*)(b + WindowLayout.TotalSizeOffset);
        var ringCount = *(uint*)(b + WindowLayout.RingCountOffset);
        var sideCount = *(uint*)(b + WindowLayout.SideCountOffset);
        if (magic != Magic || version != LayoutVersion || headerSize != HeaderSize || total != size || ringCount != 2 || sideCount != 2)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"Not an IICFast window of layout version {LayoutVersion}: magic 0x{magic:x16} (want 0x{Magic:x16}), version {version}, header {headerSize} bytes, size {total} (file has {size}), {ringCount} rings, {sideCount} sides."));
        }
        var groupMask = *(uint*)(b + WindowLayout.GroupMaskOffset);
        if (groupMask > 3)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"The window's group mask 0x{groupMask:x} names sides other than 0 and 1."));
        }
        // The four regions (two rings, two interrupt blocks), checked for overlap below; their names are made only for a message.
        Span<(long Start, long End, int What)> regions = stackalloc (long, long, int)[4];
        var rings = default(SidePair<DescriptorRing>);
        var pages = default(SidePair<InterruptPage?>);
        var ownPages = default(SidePair<InterruptPage>);
        var vectors = default(SidePair<int>);
        var groupSides = default(SidePair<bool>);
        for (var i = 0; i < 2; i++)
        {
            var ringOffset = *(long*)(b + WindowLayout.RingEntry(i) + WindowLayout.RingEntryOffset);
            var capacity = *(int*)(b + WindowLayout.RingEntry(i) + WindowLayout.RingEntryCapacity);
            var pageOffset = *(long*)(b + WindowLayout.InterruptEntry(i) + WindowLayout.InterruptEntryOffset);
            var vector = *(int*)(b + WindowLayout.InterruptEntry(i) + WindowLayout.InterruptEntryVector);
            if (capacity < DescriptorRing.MinCapacity || capacity > DescriptorRing.MaxCapacity || (capacity & (capacity - 1)) != 0)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Ring {i} has capacity {capacity}; it must be a power of two from {DescriptorRing.MinCapacity} to {DescriptorRing.MaxCapacity}."));
            }
            regions[2 * i] = CheckRegion(ringOffset, DescriptorRing.SizeFor(capacity), size, 2 * i);
            regions[(2 * i) + 1] = CheckRegion(pageOffset, InterruptPage.SizeFor(EmbeddedVectorCount), size, (2 * i) + 1);
            var embedded = InterruptPage.Attach(b + pageOffset, size - pageOffset);
            var grouped = (groupMask & (1u << i)) != 0;
            var vectorLimit = grouped ? InterruptPage.MaxVectorCount : embedded.VectorCount;
            if ((uint)vector >= (uint)vectorLimit)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"Interrupt entry {i} names vector {vector}, outside its {vectorLimit} vectors."));
            }
            pages[i] = grouped ? null : embedded; // a grouped side's page arrives separately (AttachGroup)
            ownPages[i] = embedded;
            vectors[i] = vector;
            groupSides[i] = grouped;
            rings[i] = new DescriptorRing(b + ringOffset, ringOffset, capacity, i == 0 ? "0->1" : "1->0");
        }
        regions.Sort(static (x, y) => x.Start.CompareTo(y.Start));
        for (var i = 1; i < regions.Length; i++)
        {
            if (regions[i].Start < regions[i - 1].End)
            {
                throw new InvalidDataException($"The window's {RegionName(regions[i - 1].What)} and {RegionName(regions[i].What)} overlap.");
            }
        }
        return new SharedWindow(file, memory, rings, pages, ownPages, vectors, groupSides);
    }

    private static void ValidateGroupVector(int? vector, string name)
    {
        if (vector is < 0 or >= InterruptPage.MaxVectorCount)
        {
            throw new ArgumentOutOfRangeException(name, vector, $"A group vector is 0 to {InterruptPage.MaxVectorCount - 1}.");
        }
    }

    /// <summary>Region <paramref name="what"/> (ring i = 2i, interrupt block i = 2i + 1) must be line-aligned inside [header, size).</summary>
    private static (long Start, long End, int What) CheckRegion(long offset, long length, long size, int what)
    {
        if (offset < HeaderSize || (offset & (Smp.PaddedLineSize - 1)) != 0 || offset > size - length)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The window's {RegionName(what)} at offset {offset} ({length} bytes) is not a {Smp.PaddedLineSize}-aligned region inside [{HeaderSize}, {size})."));
        }
        return (offset, offset + length, what);
    }

    private static string RegionName(int what) => string.Create(CultureInfo.InvariantCulture, $"{((what & 1) == 0 ? "ring" : "interrupt block")} {what / 2}");

    private static void WriteRingEntry(byte* b, int index, long offset, int capacity)
    {
        *(long*)(b + WindowLayout.RingEntry(index) + WindowLayout.RingEntryOffset) = offset;
        *(int*)(b + WindowLayout.RingEntry(index) + WindowLayout.RingEntryCapacity) = capacity;
    }

    private static void WriteInterruptEntry(byte* b, int index, long offset, int vector)
    {
        *(long*)(b + WindowLayout.InterruptEntry(index) + WindowLayout.InterruptEntryOffset) = offset;
        *(int*)(b + WindowLayout.InterruptEntry(index) + WindowLayout.InterruptEntryVectorCount) = EmbeddedVectorCount;
        *(int*)(b + WindowLayout.InterruptEntry(index) + WindowLayout.InterruptEntryVector) = vector;
    }
}
