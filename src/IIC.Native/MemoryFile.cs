using System.Globalization;

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
