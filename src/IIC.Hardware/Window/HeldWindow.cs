using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// A window as the hypervisor holds it for a grant: its sealed memfd alone, never mapped on the connect path (issue 17,
/// the connection cycle; round 14). The header is formatted into a buffer and written into the file with pwrite before
/// anyone else has the descriptor; the pages the partitions touch first were committed the same way beforehand
/// (<see cref="Prepare"/>, by the <see cref="WindowPool"/>, which writes the default grant's header then too); and retiring a grant is a close, not a munmap with
/// its TLB shootdown. The hypervisor maps the window only where it truly writes into it after the grant: to mark a
/// side dead and wake the other side (<see cref="MarkDead"/>: the header page, mapped for that call and unmapped after
/// it). What the hypervisor keeps of the layout (the plan, the vectors) is its own, never read back from the shared
/// memory a partition may have overwritten since.
/// <para>Ordering: the header's release store of the magic (W1) is made into a local buffer; what orders the header
/// before a partition's reads (W2) is that the pwrite returns before the descriptor is sent over SCM_RIGHTS (the
/// kernel's page-cache copy completes in the syscall, and the receiving process maps the file only after recvmsg
/// returned it). No process but this one has the file until then: it is fresh (memfd_create) and only the pool and
/// this grant ever had it.</para>
/// </summary>
internal sealed unsafe class HeldWindow : IDisposable
{
    private static readonly byte[] s_zeros = new byte[WindowLayout.PageSize];
    private static long s_headerMaps;

    private readonly WindowLayout.Regions _plan;
    private SidePair<int> _vectors;
    private SidePair<bool> _groupSides;
    private SidePair<InterruptPage?> _groupPages;
    private SidePair<MappingLease?> _groupLeases;
    private int _disposed;

    private HeldWindow(FileDescriptor file, WindowOptions options, in WindowLayout.Regions plan)
    {
        File = file;
        _plan = plan;
        _vectors[0] = options.GroupVector0 ?? 0;
        _vectors[1] = options.GroupVector1 ?? 0;
        _groupSides[0] = options.GroupVector0 is not null;
        _groupSides[1] = options.GroupVector1 is not null;
    }

    /// <summary>The memfd (sent to both sides over SCM_RIGHTS).</summary>
    public FileDescriptor File { get; }

    /// <summary>The window's size in bytes.</summary>
    public long Size => _plan.Total;

    /// <summary>Maps of the header made by <see cref="MarkDead"/> so far, in this process (tests, diagnostics).</summary>
    public static long HeaderMaps => Interlocked.Read(ref s_headerMaps);

    /// <summary>Creates, sizes and seals a new file for <paramref name="options"/> and writes its header, without mapping it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A ring capacity or group vector is out of its range.</exception>
    /// <exception cref="NativeException">The kernel refused (EMFILE, ENOMEM, ENOSPC).</exception>
    public static HeldWindow Create(WindowOptions options, string name = "iic-window")
    {
        ArgumentNullException.ThrowIfNull(options);
        DescriptorRing.ValidateCapacity(options.RingCapacity0);
        DescriptorRing.ValidateCapacity(options.RingCapacity1);
        if (options.GroupVector0 is < 0 or >= InterruptPage.MaxVectorCount || options.GroupVector1 is < 0 or >= InterruptPage.MaxVectorCount)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"A group vector is 0 to {InterruptPage.MaxVectorCount - 1}.");
        }
        var file = SealedMemory.CreateUnmapped(name, SharedWindow.PlanFor(options).Total);
        return Format(options, file);
    }

    /// <summary>
    /// Writes the header of <paramref name="file"/> (made by <see cref="SealedMemory.CreateUnmapped"/> for
    /// <paramref name="options"/>' size, never handed to anyone: all zeros, except pages committed with zeros) with one
    /// pwrite. Takes ownership of the file; closes it if it throws.
    /// </summary>
    /// <exception cref="NativeException">The kernel refused (ENOMEM, ENOSPC).</exception>
    public static HeldWindow Format(WindowOptions options, FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(file);
        try
        {
            var plan = SharedWindow.PlanFor(options);
            // The header, both side blocks and both interrupt blocks' headers: 1792 bytes with 128-byte lines.
            Span<byte> header = stackalloc byte[SharedWindow.HeaderExtent(plan)];
            header.Clear();
            fixed (byte* b = header)
            {
                SharedWindow.WriteHeader(b, options, plan);
            }
            MemoryFile.WriteAt(file, header, 0);
            return new HeldWindow(file, options, plan);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Prepares a fresh file of <paramref name="options"/>' shape ahead of its grant (the <see cref="WindowPool"/>, off
    /// the connect path): writes the header for <paramref name="options"/> and commits with zeros the pages that its
    /// users touch first, the header page(s) with both interrupt blocks and each ring's first page (its control lines
    /// and first records), in two pwrites. Written, they are allocated, zeroed and up to date in the file's page cache:
    /// a grant of this shape writes nothing more (<see cref="Adopt"/>), and a partition's first touch maps them without
    /// allocating or zeroing (its fault-around maps the present neighbours in the same fault; pages only fallocated are
    /// not up to date and would each take a fault of their own, zeroed then).
    /// </summary>
    /// <exception cref="NativeException">The kernel refused (ENOMEM, ENOSPC).</exception>
    public static void Prepare(FileDescriptor file, WindowOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var plan = SharedWindow.PlanFor(options);
        // The first region: the header page(s) and ring 0's first page, 8 KiB with 64-vector blocks (bounded below).
        var first = checked((int)(plan.Ring0 + WindowLayout.PageSize));
        if (first > 4 * WindowLayout.PageSize)
        {
            throw new InvalidOperationException("The window's header region is larger than this build plans for.");
        }
        Span<byte> region = stackalloc byte[first];
        region.Clear();
        fixed (byte* b = region)
        {
            SharedWindow.WriteHeader(b, options, plan);
        }
        MemoryFile.WriteAt(file, region, 0);
        MemoryFile.WriteAt(file, s_zeros.AsSpan(0, WindowLayout.PageSize), plan.Ring1);
    }

    /// <summary>
    /// Takes <paramref name="file"/>, made by <see cref="SealedMemory.CreateUnmapped"/> and <see cref="Prepare"/>d for
    /// <paramref name="preparedFor"/>, as the window of a grant of <paramref name="options"/>: nothing is written when
    /// the two give the same header (the default, ungrouped grant: no syscall on the connect path); otherwise the header
    /// is rewritten for <paramref name="options"/> (<see cref="Format"/>). Takes ownership of the file; closes it if it throws.
    /// </summary>
    /// <exception cref="NativeException">The kernel refused (ENOMEM, ENOSPC).</exception>
    public static HeldWindow Adopt(WindowOptions options, FileDescriptor file, WindowOptions preparedFor)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(preparedFor);
        if (options.RingCapacity0 == preparedFor.RingCapacity0 && options.RingCapacity1 == preparedFor.RingCapacity1
            && options.GroupVector0 == preparedFor.GroupVector0 && options.GroupVector1 == preparedFor.GroupVector1)
        {
            return new HeldWindow(file, options, SharedWindow.PlanFor(options));
        }
        return Format(options, file);
    }

    /// <summary>
    /// Supplies the group page side <paramref name="side"/> receives through (the pair's page, mapped by the hypervisor
    /// for the pair's life): <see cref="MarkDead"/> raises the side's vector there. Kept mapped until this window is disposed.
    /// </summary>
    /// <exception cref="InvalidOperationException">The side is not grouped, or already has its page.</exception>
    /// <exception cref="InvalidDataException">The side's vector is outside the group's page.</exception>
    public void AttachGroup(int side, InterruptGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        if ((uint)side > 1 || !_groupSides[side] || _groupPages[side] is not null)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Side {side} of this window is not grouped, or already has its group page."));
        }
        if ((uint)_vectors[side] >= (uint)group.Page.VectorCount)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"The window names vector {_vectors[side]} for side {side}, outside the group's {group.Page.VectorCount} vectors."));
        }
        _groupLeases[side] = group.Memory.Lease();
        _groupPages[side] = group.Page;
    }

    /// <summary>
    /// Marks <paramref name="side"/> dead with a new epoch (a side that closed cleanly stays closed) and wakes the other
    /// side, as <see cref="SharedWindow.MarkDead"/> does: maps the window's first <see cref="WindowLayout.Regions.Ring0"/>
    /// bytes (the header with the side blocks and both embedded interrupt blocks) for this call and unmaps them after.
    /// Nothing read from the mapping is trusted: the state word is only compared, and the blocks' places and vector
    /// counts are this process's own. The file is sealed against shrinking, so the mapping cannot fault (SIGBUS).
    /// </summary>
    /// <exception cref="NativeException">The header could not be mapped (ENOMEM): the side is not marked.</exception>
    /// <exception cref="ObjectDisposedException">The window was retired.</exception>
    public void MarkDead(int side)
    {
        if ((uint)side > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(side), side, "A window has sides 0 and 1.");
        }
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        using var memory = MappedMemory.Map(File, _plan.Ring0, populate: false);
        Interlocked.Increment(ref s_headerMaps);
        using var lease = memory.Lease();
        var b = lease.Base;
        SharedWindow.MarkDeadAt(b + WindowLayout.SideBlock(side));
        // Wake the other side as SharedWindow.WakeOther does: its group page's vector (when it receives through one),
        // and its own embedded block, where an ungrouped side always sleeps and a grouped one sleeps while it waits alone.
        var other = 1 - side;
        var own = InterruptPage.FormattedBefore(b + (other == 0 ? _plan.InterruptBlock0 : _plan.InterruptBlock1), SharedWindow.EmbeddedVectorCount);
        if (_groupSides[other])
        {
            _groupPages[other]?.RaiseAlways(_vectors[other]);
            own.WakeAlways();
        }
        else
        {
            own.RaiseAlways(_vectors[other]);
        }
    }

    /// <summary>Closes the descriptor (the hypervisor's reference to the file; partitions keep theirs) and releases the group pages.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        File.Dispose();
        foreach (var lease in _groupLeases)
        {
            lease?.Dispose();
        }
    }
}
