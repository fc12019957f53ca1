using System.Globalization;

namespace IIC.Native;

/// <summary>
/// Copies between this process and another process's address space without shared memory (process_vm_readv /
/// process_vm_writev, Linux 3.2+). The caller needs ptrace access to the target (same user and, under Yama
/// ptrace_scope 1, an ancestor of it, or CAP_SYS_PTRACE). A transfer may be partial if it runs into an unmapped page.
/// </summary>
public static unsafe class ProcessMemory
{
    /// <summary>Writes <paramref name="source"/> to <paramref name="remoteAddress"/> in process <paramref name="processId"/>.</summary>
    /// <returns>How many bytes were written (fewer than asked if the remote range ends in an unmapped page).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="processId"/> is not positive.</exception>
    /// <exception cref="NativeException">process_vm_writev failed: ESRCH (no such process), EPERM (no ptrace access), EFAULT (the remote address is not mapped).</exception>
    public static int Write(int processId, nint remoteAddress, ReadOnlySpan<byte> source)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(processId);
        LinuxPlatform.EnsureSupported();
        if (source.IsEmpty)
        {
            return 0;
        }
        fixed (byte* local = source)
        {
            Interop.Libc.IoVec localVector = new() { iov_base = local, iov_len = (nuint)source.Length };
            Interop.Libc.IoVec remoteVector = new() { iov_base = (void*)remoteAddress, iov_len = (nuint)source.Length };
            var written = Interop.Libc.ProcessVmWritev(processId, &localVector, 1, &remoteVector, 1, 0);
            return (int)NativeException.ThrowIfFailed((long)written,
                string.Create(CultureInfo.InvariantCulture, $"process_vm_writev(pid {processId}, 0x{remoteAddress:x}, {source.Length} bytes)"));
        }
    }

    /// <summary>Reads from <paramref name="remoteAddress"/> in process <paramref name="processId"/> into <paramref name="destination"/>.</summary>
    /// <returns>How many bytes were read (fewer than asked if the remote range ends in an unmapped page).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="processId"/> is not positive.</exception>
    /// <exception cref="NativeException">process_vm_readv failed: ESRCH, EPERM or EFAULT as for <see cref="Write"/>.</exception>
    public static int Read(int processId, nint remoteAddress, Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(processId);
        LinuxPlatform.EnsureSupported();
        if (destination.IsEmpty)
        {
            return 0;
        }
        fixed (byte* local = destination)
        {
            Interop.Libc.IoVec localVector = new() { iov_base = local, iov_len = (nuint)destination.Length };
            Interop.Libc.IoVec remoteVector = new() { iov_base = (void*)remoteAddress, iov_len = (nuint)destination.Length };
            var read = Interop.Libc.ProcessVmReadv(processId, &localVector, 1, &remoteVector, 1, 0);
            return (int)NativeException.ThrowIfFailed((long)read,
                string.Create(CultureInfo.InvariantCulture, $"process_vm_readv(pid {processId}, 0x{remoteAddress:x}, {destination.Length} bytes)"));
        }
    }
}
