using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// Anonymous memory files (memfd_create): shared memory that has no name in any file system, so only a
/// process that was handed the descriptor (over SCM_RIGHTS, or by inheritance) can map it.
/// </summary>
public static class MemoryFile
{
    /// <summary>The longest name memfd_create accepts (249 bytes, excluding the "memfd:" prefix).</summary>
    public const int MaxNameLength = 249;

    /// <summary>Creates a close-on-exec memory file of size 0 that accepts seals.</summary>
    /// <param name="name">A debugging name, visible in /proc/PID/fd; at most <see cref="MaxNameLength"/> bytes, no '\0'.</param>
    /// <exception cref="ArgumentException">The name is too long or contains '\0'.</exception>
    /// <exception cref="NativeException">The call failed (EMFILE, ENOMEM...).</exception>
    public static FileDescriptor Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        LinuxPlatform.EnsureSupported();
        if (name.Contains('\0', StringComparison.Ordinal) || System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameLength)
        {
            throw new ArgumentException($"A memfd name must be at most {MaxNameLength} UTF-8 bytes with no NUL; got '{name}'. Use a shorter debugging name.", nameof(name));
        }
        var fd = Interop.Libc.MemfdCreate(name, Interop.Libc.MFD_CLOEXEC | Interop.Libc.MFD_ALLOW_SEALING);
        NativeException.ThrowIfFailed(fd, $"memfd_create(\"{name}\")");
        return new FileDescriptor(fd);
    }

    /// <summary>Sets the size of the file (ftruncate).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is negative.</exception>
    /// <exception cref="NativeException">The call failed, e.g. EPERM when a seal forbids the change.</exception>
    public static void SetSize(FileDescriptor file, long size)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var fd = file.Value;
        NativeException.ThrowIfFailed(Interop.Libc.Ftruncate(fd, size), string.Create(CultureInfo.InvariantCulture, $"ftruncate({fd}, {size})"));
        GC.KeepAlive(file);
    }

    /// <summary>Adds seals (fcntl F_ADD_SEALS).</summary>
    /// <exception cref="NativeException">The call failed, e.g. EPERM once <see cref="FileSeals.Seal"/> is set.</exception>
    public static void AddSeals(FileDescriptor file, FileSeals seals)
    {
        ArgumentNullException.ThrowIfNull(file);
        var fd = file.Value;
        NativeException.ThrowIfFailed(Interop.Libc.Fcntl(fd, Interop.Libc.F_ADD_SEALS, (int)seals), $"fcntl({fd}, F_ADD_SEALS, {seals})");
        GC.KeepAlive(file);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> at <paramref name="offset"/> of the file (pwrite, repeated until all are written)
    /// without mapping it: a memfd's pages are allocated (zero-filled around the bytes written) and up to date in its page
    /// cache afterwards, so a process that maps the file later finds them present (its first touch maps them, and the
    /// kernel's fault-around maps the neighbouring present pages in the same fault) instead of allocating and zeroing them.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
    /// <exception cref="NativeException">The call failed (ENOSPC, ENOMEM; EPERM past a grow seal).</exception>
    internal static unsafe void WriteAt(FileDescriptor file, ReadOnlySpan<byte> bytes, long offset)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        var fd = file.Value;
        fixed (byte* start = bytes)
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var written = Interop.Libc.Pwrite(fd, start + done, (nuint)(bytes.Length - done), offset + done);
                if (written < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Interop.Errno.EINTR)
                    {
                        continue;
                    }
                    throw NativeException.FromLastError(string.Create(CultureInfo.InvariantCulture, $"pwrite({fd}, {bytes.Length - done} bytes at {offset + done})"));
                }
                if (written == 0)
                {
                    throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"pwrite({fd}) at {offset + done}"), Interop.Errno.ENOSPC); // no progress: treat as out of space
                }
                done += (int)written;
            }
        }
        GC.KeepAlive(file);
    }

    /// <summary>
    /// The extents of the file that hold data, from lseek's SEEK_DATA and SEEK_HOLE: for a memfd, the pages present and up
    /// to date in its page cache (written or faulted in); the rest reads as zeros without memory behind it (tests, diagnostics).
    /// </summary>
    /// <exception cref="NativeException">The call failed.</exception>
    internal static List<(long Start, long End)> DataExtents(FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var fd = file.Value;
        var extents = new List<(long Start, long End)>();
        long offset = 0;
        while (true)
        {
            var start = Interop.Libc.Lseek(fd, offset, Interop.Libc.SEEK_DATA);
            if (start < 0)
            {
                if (Marshal.GetLastPInvokeError() == Interop.Errno.ENXIO)
                {
                    break; // no data at or after offset
                }
                throw NativeException.FromLastError(string.Create(CultureInfo.InvariantCulture, $"lseek({fd}, {offset}, SEEK_DATA)"));
            }
            var end = NativeException.ThrowIfFailed(Interop.Libc.Lseek(fd, start, Interop.Libc.SEEK_HOLE), string.Create(CultureInfo.InvariantCulture, $"lseek({fd}, {start}, SEEK_HOLE)"));
            extents.Add((start, end));
            offset = end;
        }
        GC.KeepAlive(file);
        return extents;
    }

    /// <summary>Reads the seals back (fcntl F_GET_SEALS).</summary>
    /// <exception cref="NativeException">The call failed, e.g. EINVAL when the descriptor is not a memfd.</exception>
    public static FileSeals GetSeals(FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var fd = file.Value;
        var seals = NativeException.ThrowIfFailed(Interop.Libc.Fcntl(fd, Interop.Libc.F_GET_SEALS, 0), $"fcntl({fd}, F_GET_SEALS)");
        GC.KeepAlive(file);
        return (FileSeals)seals;
    }
}
