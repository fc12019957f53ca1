using System.Globalization;

namespace IIC.Native;

/// <summary>
/// A stable reference to a process (a pidfd, pidfd_open(2), Linux 5.3+): unlike a pid it cannot come to mean
/// another process after this one exits. The descriptor becomes readable exactly when the process exits, so
/// it can be watched with <see cref="Poll"/> next to sockets in an event loop.
/// </summary>
public sealed class ProcessHandle : IDisposable
{
    private readonly FileDescriptor _descriptor;

    private ProcessHandle(FileDescriptor descriptor, int processId)
    {
        _descriptor = descriptor;
        ProcessId = processId;
    }

    /// <summary>
    /// The process id this handle was opened for, as this process's pid namespace sees it; 0 when the process
    /// lives in a pid namespace this one cannot see (a handle taken from a socket with <see cref="PeerProcess"/>).
    /// </summary>
    public int ProcessId { get; }

    /// <summary>The pidfd (close-on-exec; readable once the process has exited).</summary>
    public FileDescriptor Descriptor => _descriptor;

    /// <summary>Whether the process has exited (a poll that does not wait).</summary>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    public bool HasExited => WaitForExit(TimeSpan.Zero);

    /// <summary>Opens a pidfd for <paramref name="processId"/> (a process or thread-group leader that exists now).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="processId"/> is not positive.</exception>
    /// <exception cref="NativeException">pidfd_open failed: ESRCH if there is no such process, ENOSYS before Linux 5.3.</exception>
    public static ProcessHandle Open(int processId)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(processId);
        LinuxPlatform.EnsureSupported();
        var fd = Interop.Libc.Syscall(Interop.Libc.SysPidfdOpen, processId, 0, 0, 0, 0, 0);
        NativeException.ThrowIfFailed(fd, string.Create(CultureInfo.InvariantCulture, $"pidfd_open({processId})"));
        return new ProcessHandle(new FileDescriptor((int)fd), processId);
    }

    /// <summary>
    /// Takes ownership of a pidfd received from another process (SCM_RIGHTS), e.g. the peer's pidfd the hypervisor
    /// hands over with a grant; pidfds stay valid across pid namespaces.
    /// </summary>
    /// <param name="descriptor">The pidfd; owned by the handle from now on.</param>
    /// <param name="processId">The pid the sender says it refers to (for messages only).</param>
    internal static ProcessHandle FromDescriptor(FileDescriptor descriptor, int processId)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        return new ProcessHandle(descriptor, processId);
    }

    /// <summary>Waits at most <paramref name="timeout"/> for the process to exit (poll on the pidfd). Does not reap it.</summary>
    /// <param name="timeout">The longest wait; <see cref="TimeSpan.Zero"/> checks, <see cref="Timeout.InfiniteTimeSpan"/> waits without limit.</param>
    /// <returns>True once the process has exited; false when the timeout passed first.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not infinite.</exception>
    /// <exception cref="ObjectDisposedException">The handle was disposed.</exception>
    /// <exception cref="NativeException">poll failed.</exception>
    public bool WaitForExit(TimeSpan timeout) => (Poll.WaitOne(_descriptor, PollEvents.Readable, timeout) & PollEvents.Readable) != 0;

    /// <summary>Closes the pidfd (does not affect the process).</summary>
    public void Dispose() => _descriptor.Dispose();

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"pidfd({ProcessId}, {_descriptor})");
}
