using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// Owns one Linux file descriptor. Descriptor 0 is valid; -1 is the invalid value. Close is never retried on
/// EINTR (Linux releases the descriptor even then, and a retry could close a descriptor another thread just got).
/// </summary>
public sealed class FileDescriptor : SafeHandle
{
    /// <summary>Creates an invalid descriptor (for marshalling and deferred assignment).</summary>
    public FileDescriptor()
        : base(-1, ownsHandle: true)
    {
    }

    /// <summary>Wraps a raw descriptor.</summary>
    /// <param name="fd">The descriptor number; 0 is valid.</param>
    /// <param name="ownsHandle">Whether disposing this object closes the descriptor.</param>
    public FileDescriptor(int fd, bool ownsHandle = true)
        : base(-1, ownsHandle)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        SetHandle(fd);
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor number. Valid only while this object is not disposed.</summary>
    /// <exception cref="ObjectDisposedException">The descriptor was closed.</exception>
    public int Value
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return (int)handle;
        }
    }

    /// <summary>fstat: the size, mode and owner of the file behind the descriptor.</summary>
    /// <exception cref="NativeException">The call failed (for example EBADF).</exception>
    public unsafe FileStatus GetStatus()
    {
        var addedRef = false;
        try
        {
            DangerousAddRef(ref addedRef);
            Interop.Libc.StatX status;
            NativeException.ThrowIfFailed(
                Interop.Libc.Statx((int)handle, "", Interop.Libc.AT_EMPTY_PATH, Interop.Libc.STATX_BASIC_STATS, &status),
                string.Create(CultureInfo.InvariantCulture, $"fstat({(int)handle})"));
            return new FileStatus((long)status.stx_size, status.stx_mode, status.stx_uid, status.stx_gid);
        }
        finally
        {
            if (addedRef)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Whether the descriptor is closed automatically across exec (FD_CLOEXEC).</summary>
    /// <exception cref="NativeException">The call failed.</exception>
    public bool CloseOnExec
    {
        get => (NativeException.ThrowIfFailed(Interop.Libc.Fcntl(Value, Interop.Libc.F_GETFD, 0), $"fcntl({Value}, F_GETFD)") & Interop.Libc.FD_CLOEXEC) != 0;
        set
        {
            var flags = NativeException.ThrowIfFailed(Interop.Libc.Fcntl(Value, Interop.Libc.F_GETFD, 0), $"fcntl({Value}, F_GETFD)");
            flags = value ? flags | Interop.Libc.FD_CLOEXEC : flags & ~Interop.Libc.FD_CLOEXEC;
            NativeException.ThrowIfFailed(Interop.Libc.Fcntl(Value, Interop.Libc.F_SETFD, flags), $"fcntl({Value}, F_SETFD)");
        }
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Interop.Libc.Close((int)handle) == 0;

    /// <inheritdoc />
    public override string ToString() => IsClosed ? "fd(closed)" : string.Create(CultureInfo.InvariantCulture, $"fd({(int)handle})");
}
