using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// Owns one MAP_SHARED mapping. Disposing it unmaps only when no <see cref="MappingLease"/> is outstanding
/// (SafeHandle reference counting), so a thread that still uses the memory through a lease never faults.
/// The accessors check bounds and alignment and say in their names which memory ordering they give.
/// </summary>
public sealed unsafe class MappedMemory : SafeHandle
{
    private readonly long _length;

    // SafeHandle.IsClosed turns true only when the last reference goes, so while a lease is outstanding a
    // disposed mapping would still look open; this flag makes every use after Dispose throw regardless.
    private volatile bool _disposed;

    private MappedMemory(nint address, long length)
        : base(0, ownsHandle: true)
    {
        SetHandle(address);
        _length = length;
    }

    /// <summary>The mapping's size in bytes.</summary>
    public long Length => _length;

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0 || handle == Interop.Libc.MAP_FAILED;

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="file"/> shared and read-write.</summary>
    /// <param name="file">The file (usually a memfd).</param>
    /// <param name="length">Bytes to map; must be positive.</param>
    /// <param name="populate">Fault every page in now (MAP_POPULATE), so the first message does not pay for page faults.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is not positive.</exception>
    /// <exception cref="NativeException">mmap failed.</exception>
    public static MappedMemory Map(FileDescriptor file, long length, bool populate = true)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        LinuxPlatform.EnsureSupported();
        var fd = file.Value;
        var flags = Interop.Libc.MAP_SHARED | (populate ? Interop.Libc.MAP_POPULATE : 0);
        var address = Interop.Libc.Mmap(0, (nuint)length, Interop.Libc.PROT_READ | Interop.Libc.PROT_WRITE, flags, fd, 0);
        if (address == Interop.Libc.MAP_FAILED)
        {
            throw NativeException.FromLastError(string.Create(CultureInfo.InvariantCulture, $"mmap(fd {fd}, {length} bytes)"));
        }
        GC.KeepAlive(file);
        return new MappedMemory(address, length);
    }

    /// <summary>Maps anonymous shared memory (visible to this process and to children it forks; for in-process use and tests).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is not positive.</exception>
    /// <exception cref="NativeException">mmap failed.</exception>
    public static MappedMemory MapAnonymous(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        LinuxPlatform.EnsureSupported();
        var address = Interop.Libc.Mmap(0, (nuint)length, Interop.Libc.PROT_READ | Interop.Libc.PROT_WRITE,
            Interop.Libc.MAP_SHARED | Interop.Libc.MAP_ANONYMOUS, -1, 0);
        if (address == Interop.Libc.MAP_FAILED)
        {
            throw NativeException.FromLastError(string.Create(CultureInfo.InvariantCulture, $"mmap(anonymous, {length} bytes)"));
        }
        return new MappedMemory(address, length);
    }

    /// <summary>
    /// Keeps the mapping alive until the lease is disposed and exposes its base address. Hot types take one
    /// lease for their lifetime and then use raw pointers without per-access reference counting.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The mapping was disposed.</exception>
    public MappingLease Lease()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var added = false;
        DangerousAddRef(ref added); // throws ObjectDisposedException once the handle is closed
        return new MappingLease(this, (byte*)handle, _length);
    }

    /// <summary>
    /// A bounds-checked view of [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>).
    /// The span is valid only while the mapping is mapped: hold a <see cref="Lease"/> while using it.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the mapping.</exception>
    /// <exception cref="ObjectDisposedException">The mapping was disposed.</exception>
    public Span<byte> GetSpan(long offset, int length)
    {
        CheckRange(offset, length, 1);
        return new Span<byte>((byte*)handle + offset, length);
    }

    /// <summary>Reads an int with acquire semantics (later reads are not moved before it).</summary>
    internal int ReadAcquireInt32(long offset) => Volatile.Read(ref Int32At(offset));

    /// <summary>Writes an int with release semantics (earlier writes are visible before it).</summary>
    internal void WriteReleaseInt32(long offset, int value) => Volatile.Write(ref Int32At(offset), value);

    /// <summary>Atomically replaces the int with <paramref name="value"/> if it equals <paramref name="comparand"/> (full fence); returns the original.</summary>
    internal int CompareExchangeInt32(long offset, int value, int comparand) => Interlocked.CompareExchange(ref Int32At(offset), value, comparand);

    /// <summary>Atomically ORs <paramref name="bits"/> into the int (full fence); returns the original.</summary>
    internal int FetchOrInt32(long offset, int bits) => Interlocked.Or(ref Int32At(offset), bits);

    /// <summary>Atomically adds <paramref name="value"/> to the int (full fence); returns the original.</summary>
    internal int FetchAddInt32(long offset, int value) => Interlocked.Add(ref Int32At(offset), value) - value;

    /// <summary>Reads a long with acquire semantics.</summary>
    internal long ReadAcquireInt64(long offset) => Volatile.Read(ref Int64At(offset));

    /// <summary>Writes a long with release semantics.</summary>
    internal void WriteReleaseInt64(long offset, long value) => Volatile.Write(ref Int64At(offset), value);

    /// <summary>Atomically replaces the long if it equals <paramref name="comparand"/> (full fence); returns the original.</summary>
    internal long CompareExchangeInt64(long offset, long value, long comparand) => Interlocked.CompareExchange(ref Int64At(offset), value, comparand);

    /// <summary>Atomically ORs <paramref name="bits"/> into the long (full fence); returns the original.</summary>
    internal long FetchOrInt64(long offset, long bits) => Interlocked.Or(ref Int64At(offset), bits);

    /// <summary>Atomically adds <paramref name="value"/> to the long (full fence); returns the original.</summary>
    internal long FetchAddInt64(long offset, long value) => Interlocked.Add(ref Int64At(offset), value) - value;

    /// <summary>
    /// Commits and maps every page of the mapping now (MADV_POPULATE_WRITE; before Linux 5.14, which refuses it with
    /// EINVAL, an atomic add of 0 to a word of each page), so later accesses take no page fault and a memory shortage
    /// shows here, as ENOMEM, instead of as SIGBUS on a later access of a shared file's page.
    /// </summary>
    /// <exception cref="NativeException">The kernel could not commit the pages (ENOMEM, EFAULT...).</exception>
    internal void PreFault()
    {
        try
        {
            Advise(0, _length, MemoryAdvice.PopulateWrite);
        }
        catch (NativeException e) when (e.Errno == Interop.Errno.EINVAL)
        {
            // Older kernel. Adding 0 atomically writes the page without changing a word a peer may be writing.
            for (long offset = 0; offset < _length; offset += Environment.SystemPageSize)
            {
                FetchAddInt32(offset, 0);
            }
        }
    }

    /// <summary>Gives the kernel advice about a page-aligned range (madvise).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the mapping.</exception>
    /// <exception cref="NativeException">madvise failed (EINVAL for an offset that is not page aligned).</exception>
    internal void Advise(long offset, long length, MemoryAdvice advice)
    {
        CheckRange(offset, length, 1);
        var added = false;
        try
        {
            DangerousAddRef(ref added);
            NativeException.ThrowIfFailed(Interop.Libc.Madvise(handle + (nint)offset, (nuint)length, (int)advice),
                string.Create(CultureInfo.InvariantCulture, $"madvise(+{offset}, {length}, {advice})"));
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    // Set only by the thread inside CollectUnmaps: its last releases hand the range over instead of unmapping it.
    [ThreadStatic]
    private static List<(nint Address, nuint Length)>? t_collected;

    /// <summary>
    /// Runs <paramref name="release"/> (which disposes mappings) on this thread with their munmaps collected, then unmaps
    /// what it released in as few munmap calls as the ranges allow: each run of mappings that lie next to each other
    /// (the kernel places consecutive mappings side by side) goes in one call, one page-table walk and one TLB flush
    /// instead of one per mapping (<c>DeferredUnmap</c>'s batches: 10.4 -> 7.3 µs per default window,
    /// perf/RESULTS.md round 14). Only mappings whose last reference goes inside <paramref name="release"/> on this
    /// thread are collected; a lease released elsewhere later unmaps its own as usual. A collected range stays mapped
    /// (reserved) until it is unmapped here, so no other mapping can take its place meanwhile, and a run covers exactly
    /// the collected ranges, touching end to end (page-rounded): nothing else is unmapped.
    /// </summary>
    /// <param name="release">The work that drops the references.</param>
    /// <param name="scratch">A list this thread reuses (no allocation per batch); cleared here.</param>
    /// <returns>The munmap calls made.</returns>
    internal static int CollectUnmaps(Action release, List<(nint Address, nuint Length)> scratch)
    {
        ArgumentNullException.ThrowIfNull(release);
        ArgumentNullException.ThrowIfNull(scratch);
        scratch.Clear();
        var calls = 0;
        t_collected = scratch;
        try
        {
            release();
        }
        finally
        {
            // Also when release threw part way: what it released so far is unmapped, not left reserved.
            t_collected = null;
            calls = UnmapCollected(scratch);
        }
        return calls;
    }

    /// <summary>Unmaps the collected ranges, one munmap per run of ranges that touch end to end; clears the list.</summary>
    private static int UnmapCollected(List<(nint Address, nuint Length)> scratch)
    {
        if (scratch.Count == 0)
        {
            return 0;
        }
        scratch.Sort(static (x, y) => x.Address.CompareTo(y.Address));
        var page = (nuint)Environment.SystemPageSize;
        var calls = 0;
        var start = scratch[0].Address;
        var end = start + (nint)RoundUp(scratch[0].Length, page);
        for (var i = 1; i <= scratch.Count; i++)
        {
            if (i < scratch.Count && scratch[i].Address == end)
            {
                end += (nint)RoundUp(scratch[i].Length, page);
                continue;
            }
            _ = Interop.Libc.Munmap(start, (nuint)(end - start)); // as ReleaseHandle: a failure leaves the range mapped (address space, not memory safety)
            calls++;
            if (i < scratch.Count)
            {
                start = scratch[i].Address;
                end = start + (nint)RoundUp(scratch[i].Length, page);
            }
        }
        scratch.Clear();
        return calls;
    }

    private static nuint RoundUp(nuint length, nuint page) => (length + page - 1) & ~(page - 1);

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        if (t_collected is { } collected)
        {
            collected.Add((handle, (nuint)_length)); // unmapped by CollectUnmaps on this thread, right after
            return true;
        }
        return Interop.Libc.Munmap(handle, (nuint)_length) == 0;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }

    // The reference is used inside one Volatile/Interlocked call, while this object is reachable; the
    // mapping stays valid across it only if no one disposes concurrently, which is why concurrent users
    // hold a lease (a disposed handle with outstanding leases is not unmapped).
    private ref int Int32At(long offset)
    {
        CheckRange(offset, sizeof(int), sizeof(int));
        return ref Unsafe.AsRef<int>((byte*)handle + offset);
    }

    private ref long Int64At(long offset)
    {
        CheckRange(offset, sizeof(long), sizeof(long));
        return ref Unsafe.AsRef<long>((byte*)handle + offset);
    }

    private void CheckRange(long offset, long length, int alignment)
    {
        ObjectDisposedException.ThrowIf(_disposed || IsClosed, this);
        Debug.Assert(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignments are powers of two");
        if (offset < 0 || length < 0 || offset > _length - length)
        {
            ThrowOutside(offset, length);
        }
        if ((offset & (alignment - 1)) != 0)
        {
            ThrowMisaligned(offset, alignment);
        }
    }

    [DoesNotReturn]
    private void ThrowOutside(long offset, long length) => throw new ArgumentOutOfRangeException(nameof(offset), string.Create(CultureInfo.InvariantCulture,
        $"The range [{offset}, {offset}+{length}) is outside the {_length}-byte mapping; use an offset between 0 and {_length - length}."));

    [DoesNotReturn]
    private static void ThrowMisaligned(long offset, int alignment) => throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
        $"Offset {offset} is not {alignment}-byte aligned; atomic accesses need natural alignment."), nameof(offset));
}
