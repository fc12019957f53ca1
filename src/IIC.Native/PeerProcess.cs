using System.Globalization;

namespace IIC.Native;

/// <summary>
/// The process at the other end of a connected Unix socket, taken from the socket itself so that it survives
/// pid namespaces. SO_PEERCRED's pid is translated into the reader's pid namespace: a peer in a sibling or
/// child-of-another namespace (two containers, or a hypervisor in a pod of its own) reads as pid 0, and
/// <c>pidfd_open</c> of a pid can name the wrong process once the pid is reused. SO_PEERPIDFD (Linux 6.5+)
/// hands over a pidfd the kernel took for the peer when it connected: it names that process and no other, in
/// every namespace, and becomes readable when it exits. Older kernels answer ENOPROTOOPT; then the pid from
/// SO_PEERCRED is opened with <c>pidfd_open</c>, which works when the peer is visible in this pid namespace.
/// </summary>
internal static class PeerProcess
{
    /// <summary>How <see cref="Open(SeqPacketSocket, PeerCredentials, out Source)"/> identified the peer.</summary>
    public enum Source
    {
        /// <summary>SO_PEERPIDFD: the kernel's own reference to the peer (namespace-proof).</summary>
        SocketPidfd,

        /// <summary>pidfd_open of SO_PEERCRED's pid (kernels before 6.5; needs the peer's pid to be visible here).</summary>
        PidOpen,
    }

    /// <summary>
    /// Opens a pidfd for the peer of <paramref name="socket"/>: SO_PEERPIDFD where the kernel has it, else
    /// <c>pidfd_open(credentials.Pid)</c>.
    /// </summary>
    /// <param name="socket">A connected socket (from Accept, Connect or CreatePair).</param>
    /// <param name="credentials">The socket's <see cref="SeqPacketSocket.GetPeerCredentials"/> (for the pid the handle reports, 0 when invisible here).</param>
    /// <param name="source">Which of the two ways worked.</param>
    /// <exception cref="ArgumentNullException"><paramref name="socket"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="InvalidOperationException">The kernel has no SO_PEERPIDFD and the peer's pid is not visible in this pid namespace (pid 0): it cannot be watched.</exception>
    /// <exception cref="NativeException">The peer has already exited (ESRCH; EINVAL before Linux 6.9), or getsockopt / pidfd_open failed otherwise.</exception>
    public static ProcessHandle Open(SeqPacketSocket socket, PeerCredentials credentials, out Source source)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (TryGetSocketPidfd(socket, out var pidfd))
        {
            source = Source.SocketPidfd;
            return ProcessHandle.FromDescriptor(new FileDescriptor(pidfd), credentials.Pid);
        }
        if (credentials.Pid == 0)
        {
            throw new InvalidOperationException(
                "The peer lives in a pid namespace this process cannot see (SO_PEERCRED reported pid 0) and this kernel has no SO_PEERPIDFD (Linux 6.5+) to watch it by; run the hypervisor in a pid namespace that contains its partitions (e.g. the host's), or on Linux 6.5 or later.");
        }
        source = Source.PidOpen;
        return ProcessHandle.Open(credentials.Pid);
    }

    /// <summary><see cref="Open(SeqPacketSocket, PeerCredentials, out Source)"/> without reporting the source.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="socket"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="InvalidOperationException">No SO_PEERPIDFD and the peer's pid is not visible here.</exception>
    /// <exception cref="NativeException">The peer has already exited, or a call failed.</exception>
    public static ProcessHandle Open(SeqPacketSocket socket, PeerCredentials credentials) => Open(socket, credentials, out _);

    private static unsafe bool TryGetSocketPidfd(SeqPacketSocket socket, out int pidfd)
    {
        using var scope = new DescriptorScope(socket.Descriptor);
        int value = -1;
        var length = (uint)sizeof(int);
        // The kernel installs the pidfd O_CLOEXEC; it is ours to close from here on.
        var result = Interop.Libc.GetSockOpt(scope.Fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_PEERPIDFD, &value, &length);
        if (result == -1)
        {
            var exception = NativeException.FromLastError(string.Create(CultureInfo.InvariantCulture, $"getsockopt(fd {scope.Fd}, SOL_SOCKET, SO_PEERPIDFD)"));
            if (exception.Errno == Interop.Errno.ENOPROTOOPT)
            {
                pidfd = -1;
                return false; // a kernel before 6.5: fall back to the pid
            }
            throw exception;
        }
        pidfd = value;
        return true;
    }
}
