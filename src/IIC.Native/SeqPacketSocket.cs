using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace IIC.Native;

/// <summary>
/// A Unix-domain SOCK_SEQPACKET socket (close-on-exec): connected, reliable, with message boundaries, and able to
/// carry file descriptors (SCM_RIGHTS) and to tell who the peer is (SO_PEERCRED). This is the hypervisor's control
/// channel. Blocking calls hold a reference on the descriptor, so <see cref="Dispose"/> during a blocked
/// <see cref="Receive"/> defers the close; call <see cref="Shutdown"/> first to end the blocked call.
/// </summary>
public sealed unsafe class SeqPacketSocket : IDisposable
{
    /// <summary>The longest socket path in UTF-8 bytes: sockaddr_un.sun_path holds 108 bytes including the terminating NUL.</summary>
    public const int MaxPathLength = Interop.Libc.SunPathLength - 1;

    /// <summary>The most descriptors one message carries (the kernel's SCM_MAX_FD).</summary>
    public const int MaxDescriptorsPerMessage = Interop.Libc.ScmMaxFd;

    private readonly FileDescriptor _descriptor;

    private SeqPacketSocket(FileDescriptor descriptor) => _descriptor = descriptor;

    /// <summary>The socket's descriptor (owned by this object), for <see cref="Poll"/>.</summary>
    public FileDescriptor Descriptor => _descriptor;

    /// <summary>Creates an unbound, unconnected socket (then <see cref="Bind"/> and <see cref="Listen"/>, or <see cref="Connect"/>).</summary>
    /// <exception cref="NativeException">socket failed (EMFILE, ENFILE, ENOBUFS).</exception>
    public static SeqPacketSocket Create()
    {
        LinuxPlatform.EnsureSupported();
        var fd = Interop.Libc.Socket(Interop.Libc.AF_UNIX, Interop.Libc.SOCK_SEQPACKET | Interop.Libc.SOCK_CLOEXEC, 0);
        NativeException.ThrowIfFailed(fd, "socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)");
        return new SeqPacketSocket(new FileDescriptor(fd));
    }

    /// <summary>Creates two sockets connected to each other (socketpair), e.g. for a child or a thread.</summary>
    /// <exception cref="NativeException">socketpair failed.</exception>
    public static (SeqPacketSocket First, SeqPacketSocket Second) CreatePair()
    {
        LinuxPlatform.EnsureSupported();
        var fds = stackalloc int[2];
        NativeException.ThrowIfFailed(
            Interop.Libc.SocketPair(Interop.Libc.AF_UNIX, Interop.Libc.SOCK_SEQPACKET | Interop.Libc.SOCK_CLOEXEC, 0, fds),
            "socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)");
        return (new SeqPacketSocket(new FileDescriptor(fds[0])), new SeqPacketSocket(new FileDescriptor(fds[1])));
    }

    /// <summary>
    /// Binds the socket to a path in the file system (the socket file is created with the process umask; the
    /// hypervisor puts it in a 0700 directory). Disposing the socket does not remove the file.
    /// </summary>
    /// <param name="path">At most <see cref="MaxPathLength"/> UTF-8 bytes, no NUL (abstract sockets are not supported: anyone could connect to them).</param>
    /// <exception cref="ArgumentException">The path is empty, too long or contains NUL.</exception>
    /// <exception cref="NativeException">bind failed: EADDRINUSE if the file exists, ENOENT or EACCES for the directory.</exception>
    public void Bind(string path)
    {
        Interop.Libc.SockaddrUn address;
        var length = MakeAddress(path, &address);
        using var scope = new DescriptorScope(_descriptor);
        NativeException.ThrowIfFailed(Interop.Libc.Bind(scope.Fd, &address, length), $"bind(fd {scope.Fd}, \"{path}\")");
    }

    /// <summary>
    /// Starts accepting connections. The listening socket is made non-blocking, so <see cref="TryAccept"/> never
    /// waits past its timeout even if another thread accepts the same connection first.
    /// </summary>
    /// <param name="backlog">How many connections the kernel queues before <see cref="Accept"/> takes them.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="backlog"/> is negative.</exception>
    /// <exception cref="NativeException">listen or fcntl failed (EINVAL if the socket is connected).</exception>
    public void Listen(int backlog = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(backlog);
        using var scope = new DescriptorScope(_descriptor);
        NativeException.ThrowIfFailed(Interop.Libc.Listen(scope.Fd, backlog), string.Create(CultureInfo.InvariantCulture, $"listen(fd {scope.Fd}, {backlog})"));
        var flags = NativeException.ThrowIfFailed(Interop.Libc.Fcntl(scope.Fd, Interop.Libc.F_GETFL, 0), string.Create(CultureInfo.InvariantCulture, $"fcntl({scope.Fd}, F_GETFL)"));
        NativeException.ThrowIfFailed(Interop.Libc.Fcntl(scope.Fd, Interop.Libc.F_SETFL, flags | Interop.Libc.O_NONBLOCK), string.Create(CultureInfo.InvariantCulture, $"fcntl({scope.Fd}, F_SETFL, O_NONBLOCK)"));
    }

    /// <summary>Waits for the next connection and returns the connected socket (blocking, close-on-exec).</summary>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">accept4 or poll failed (EINVAL if the socket is not listening).</exception>
    public SeqPacketSocket Accept()
    {
        TryAccept(Timeout.InfiniteTimeSpan, out var accepted);
        return accepted!;
    }

    /// <summary>Waits at most <paramref name="timeout"/> for the next connection.</summary>
    /// <param name="timeout">The longest wait; <see cref="TimeSpan.Zero"/> does not wait, <see cref="Timeout.InfiniteTimeSpan"/> waits without limit.</param>
    /// <param name="accepted">The connected socket (blocking, close-on-exec), or null when the timeout passed first.</param>
    /// <returns>False when the timeout passed first.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not infinite.</exception>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">accept4 or poll failed (EINVAL if the socket is not listening).</exception>
    public bool TryAccept(TimeSpan timeout, [NotNullWhen(true)] out SeqPacketSocket? accepted)
    {
        var deadline = Deadline.After(timeout);
        using var scope = new DescriptorScope(_descriptor);
        while (true)
        {
            var fd = Interop.Libc.Accept4(scope.Fd, null, null, Interop.Libc.SOCK_CLOEXEC);
            if (fd >= 0)
            {
                accepted = new SeqPacketSocket(new FileDescriptor(fd));
                return true;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Interop.Errno.EAGAIN)
            {
                if (timeout == TimeSpan.Zero || deadline.HasPassed || Poll.WaitOne(_descriptor, PollEvents.Readable, deadline.Remaining) == PollEvents.None)
                {
                    accepted = null;
                    return false;
                }
            }
            else if (errno is not (Interop.Errno.EINTR or Interop.Errno.ECONNABORTED))
            {
                throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"accept4(fd {scope.Fd})"), errno);
            }
        }
    }

    /// <summary>Connects to the socket listening at <paramref name="path"/>.</summary>
    /// <param name="path">At most <see cref="MaxPathLength"/> UTF-8 bytes, no NUL.</param>
    /// <exception cref="ArgumentException">The path is empty, too long or contains NUL.</exception>
    /// <exception cref="NativeException">connect failed: ENOENT if nothing is there, ECONNREFUSED if nobody listens, EACCES.</exception>
    public void Connect(string path)
    {
        Interop.Libc.SockaddrUn address;
        var length = MakeAddress(path, &address);
        using var scope = new DescriptorScope(_descriptor);
        NativeException.ThrowIfFailed(Interop.Libc.Connect(scope.Fd, &address, length), $"connect(fd {scope.Fd}, \"{path}\")");
    }

    /// <summary>
    /// Sends one message, with <paramref name="descriptors"/> attached as one SCM_RIGHTS control message (the receiver
    /// gets its own copies; these stay open here). MSG_NOSIGNAL: a hung-up peer gives EPIPE, not SIGPIPE. Blocks while
    /// the peer's queue is full. Does not allocate.
    /// </summary>
    /// <param name="message">The bytes, at least one (an empty message would be indistinguishable from a hang-up).</param>
    /// <param name="descriptors">At most <see cref="MaxDescriptorsPerMessage"/> open descriptors to pass.</param>
    /// <exception cref="ArgumentException">The message is empty, a descriptor is null, or there are too many descriptors.</exception>
    /// <exception cref="ObjectDisposedException">The socket or one of the descriptors was disposed.</exception>
    /// <exception cref="NativeException">sendmsg failed: EPIPE when the peer hung up, EMSGSIZE for a message larger than the socket buffer.</exception>
    public void Send(ReadOnlySpan<byte> message, params ReadOnlySpan<FileDescriptor> descriptors) => SendCore(message, descriptors, 0);

    /// <summary>
    /// Like <see cref="Send"/>, but never waits (MSG_DONTWAIT): when the peer's queue is full it returns false and
    /// sends nothing, so an event loop can keep the message and retry once <see cref="Descriptor"/> polls writable.
    /// </summary>
    /// <returns>True when the whole message was sent; false when the peer's queue is full (EAGAIN).</returns>
    /// <exception cref="ArgumentException">As for <see cref="Send"/>.</exception>
    /// <exception cref="ObjectDisposedException">The socket or one of the descriptors was disposed.</exception>
    /// <exception cref="NativeException">sendmsg failed other than with EAGAIN (EPIPE when the peer hung up).</exception>
    public bool TrySend(ReadOnlySpan<byte> message, params ReadOnlySpan<FileDescriptor> descriptors) => SendCore(message, descriptors, Interop.Libc.MSG_DONTWAIT);

    private bool SendCore(ReadOnlySpan<byte> message, ReadOnlySpan<FileDescriptor> descriptors, int flags)
    {
        if (message.IsEmpty)
        {
            throw new ArgumentException("A message needs at least one byte: an empty SOCK_SEQPACKET message reads as 0, the same as a hang-up.", nameof(message));
        }
        if (descriptors.Length > MaxDescriptorsPerMessage)
        {
            throw new ArgumentOutOfRangeException(nameof(descriptors), descriptors.Length,
                $"One message carries at most {MaxDescriptorsPerMessage} descriptors (SCM_MAX_FD); send the rest in further messages.");
        }
        var controlLength = descriptors.IsEmpty ? 0 : Interop.Libc.CmsgSpace((nuint)(descriptors.Length * sizeof(int)));
        var control = stackalloc ulong[(int)(controlLength / sizeof(ulong))]; // 8-byte aligned, zeroed
        using var scope = new DescriptorScope(_descriptor);
        var referenced = 0;
        try
        {
            if (!descriptors.IsEmpty)
            {
                var header = (Interop.Libc.CmsgHdr*)control;
                header->cmsg_len = Interop.Libc.CmsgLen((nuint)(descriptors.Length * sizeof(int)));
                header->cmsg_level = Interop.Libc.SOL_SOCKET;
                header->cmsg_type = Interop.Libc.SCM_RIGHTS;
                var fds = (int*)Interop.Libc.CmsgData(header);
                for (; referenced < descriptors.Length; referenced++)
                {
                    var descriptor = descriptors[referenced] ?? throw new ArgumentException(
                        string.Create(CultureInfo.InvariantCulture, $"Descriptor {referenced} of {descriptors.Length} is null."), nameof(descriptors));
                    var added = false;
                    descriptor.DangerousAddRef(ref added);
                    fds[referenced] = (int)descriptor.DangerousGetHandle();
                }
            }
            fixed (byte* data = message)
            {
                Interop.Libc.IoVec vector = new() { iov_base = data, iov_len = (nuint)message.Length };
                Interop.Libc.MsgHdr header = new()
                {
                    msg_iov = &vector,
                    msg_iovlen = 1,
                    msg_control = controlLength == 0 ? null : control,
                    msg_controllen = controlLength,
                };
                while (true)
                {
                    var sent = Interop.Libc.SendMsg(scope.Fd, &header, Interop.Libc.MSG_NOSIGNAL | flags);
                    if (sent == message.Length)
                    {
                        return true;
                    }
                    if (sent >= 0)
                    {
                        throw new IOException(string.Create(CultureInfo.InvariantCulture,
                            $"sendmsg(fd {scope.Fd}) sent {sent} of {message.Length} bytes; a SOCK_SEQPACKET message is sent whole or not at all."));
                    }
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Interop.Errno.EAGAIN && (flags & Interop.Libc.MSG_DONTWAIT) != 0)
                    {
                        return false;
                    }
                    if (errno != Interop.Errno.EINTR)
                    {
                        throw new NativeException(string.Create(CultureInfo.InvariantCulture,
                            $"sendmsg(fd {scope.Fd}, {message.Length} bytes, {descriptors.Length} fds)"), errno);
                    }
                }
            }
        }
        finally
        {
            for (var i = 0; i < referenced; i++)
            {
                descriptors[i].DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Waits for the next message and copies it into <paramref name="buffer"/>; descriptors that came with it are
    /// added to <paramref name="descriptors"/> as new owned, close-on-exec <see cref="FileDescriptor"/>s (MSG_CMSG_CLOEXEC).
    /// </summary>
    /// <param name="buffer">Room for the largest message expected; at least one byte.</param>
    /// <param name="descriptors">Receives the passed descriptors (the caller disposes them); null if none are expected.</param>
    /// <returns>The message length; 0 when the peer hung up (orderly shutdown or close).</returns>
    /// <exception cref="ArgumentException">The buffer is empty.</exception>
    /// <exception cref="IOException">The message did not fit the buffer (MSG_TRUNC), or carried more descriptors than
    /// fit (MSG_CTRUNC), or carried descriptors while <paramref name="descriptors"/> is null. The message is lost and
    /// any descriptors it carried are closed.</exception>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">recvmsg failed (ECONNRESET, ENOTCONN).</exception>
    public int Receive(Span<byte> buffer, ICollection<FileDescriptor>? descriptors = null) =>
        ReceiveCore(buffer, descriptors, 0, MaxDescriptorsPerMessage);

    /// <summary>
    /// Like <see cref="Receive"/>, but waits at most <paramref name="timeout"/>: <see cref="TimeSpan.Zero"/> makes it
    /// a non-blocking receive (MSG_DONTWAIT) for an event loop that polls the <see cref="Descriptor"/>.
    /// </summary>
    /// <param name="buffer">Room for the largest message expected; at least one byte.</param>
    /// <param name="descriptors">Receives the passed descriptors (the caller disposes them); null if none are expected.</param>
    /// <param name="timeout">The longest wait; <see cref="Timeout.InfiniteTimeSpan"/> waits without limit.</param>
    /// <param name="received">The message length (0 when the peer hung up); 0 when the timeout passed first.</param>
    /// <returns>True when a message or a hang-up was received; false when the timeout passed first.</returns>
    /// <exception cref="ArgumentException">The buffer is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not infinite.</exception>
    /// <exception cref="IOException">As for <see cref="Receive"/>.</exception>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">recvmsg or poll failed.</exception>
    public bool TryReceive(Span<byte> buffer, ICollection<FileDescriptor>? descriptors, TimeSpan timeout, out int received)
    {
        var deadline = Deadline.After(timeout);
        while (true)
        {
            received = ReceiveCore(buffer, descriptors, Interop.Libc.MSG_DONTWAIT, MaxDescriptorsPerMessage);
            if (received >= 0)
            {
                return true;
            }
            received = 0;
            if (timeout == TimeSpan.Zero || deadline.HasPassed || Poll.WaitOne(_descriptor, PollEvents.Readable, deadline.Remaining) == PollEvents.None)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// The peer's process id, effective user id and group id as of when the connection was made (SO_PEERCRED).
    /// The kernel translates them into this process's namespaces: the pid is 0 when the peer lives in a pid
    /// namespace this one cannot see (use <see cref="PeerProcess.Open(SeqPacketSocket, PeerCredentials)"/> to
    /// watch it), and a uid or gid with no mapping in this user namespace reads as the overflow id (65534).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="InvalidOperationException">The socket has no peer (it was never connected).</exception>
    /// <exception cref="NativeException">getsockopt failed.</exception>
    public PeerCredentials GetPeerCredentials()
    {
        using var scope = new DescriptorScope(_descriptor);
        Interop.Libc.UCred credentials;
        var length = (uint)sizeof(Interop.Libc.UCred);
        NativeException.ThrowIfFailed(
            Interop.Libc.GetSockOpt(scope.Fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_PEERCRED, &credentials, &length),
            string.Create(CultureInfo.InvariantCulture, $"getsockopt(fd {scope.Fd}, SOL_SOCKET, SO_PEERCRED)"));
        if (credentials.pid == 0 && credentials.uid == uint.MaxValue)
        {
            // Linux answers for a socket that never had a peer with pid 0 and uid/gid -1 instead of an error.
            // A real peer in a pid namespace this one cannot see also reads as pid 0, but with its (translated) ids.
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"Socket fd {scope.Fd} has no peer (SO_PEERCRED reported pid 0); connect it, or use a socket returned by Accept or CreatePair."));
        }
        return new PeerCredentials(credentials.pid, credentials.uid, credentials.gid);
    }

    /// <summary>
    /// SO_SNDBUF: the bytes of queued messages (their kernel bookkeeping included) this socket may have in flight before a
    /// send would block or fail with EAGAIN. Setting asks for a value; the kernel doubles it and applies a floor of a few KiB
    /// (socket(7)); the getter reads what it applied.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">setsockopt or getsockopt failed.</exception>
    internal int SendBufferSize
    {
        get
        {
            using var scope = new DescriptorScope(_descriptor);
            int value;
            var length = (uint)sizeof(int);
            NativeException.ThrowIfFailed(Interop.Libc.GetSockOpt(scope.Fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_SNDBUF, &value, &length),
                string.Create(CultureInfo.InvariantCulture, $"getsockopt(fd {scope.Fd}, SOL_SOCKET, SO_SNDBUF)"));
            return value;
        }
        set
        {
            using var scope = new DescriptorScope(_descriptor);
            NativeException.ThrowIfFailed(Interop.Libc.SetSockOpt(scope.Fd, Interop.Libc.SOL_SOCKET, Interop.Libc.SO_SNDBUF, &value, sizeof(int)),
                string.Create(CultureInfo.InvariantCulture, $"setsockopt(fd {scope.Fd}, SOL_SOCKET, SO_SNDBUF, {value})"));
        }
    }

    /// <summary>
    /// Shuts down one or both directions (shutdown(2)); a blocked receive here returns 0, the peer reads 0 after its queue
    /// drains. A socket not connected (never, or its peer gone) is no error: Linux's unix_shutdown (net/unix/af_unix.c)
    /// marks the socket and its peer if any, and refuses only a <paramref name="how"/> outside SHUT_RD..SHUT_RDWR (EINVAL),
    /// checked here first. Allocates only when it fails.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="how"/> is not Receive, Send or Both.</exception>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">shutdown failed: Linux gives none for a unix socket and a valid <paramref name="how"/> (a security module's refusal, through its socket_shutdown hook, is the one errno possible), reported, not lost.</exception>
    public void Shutdown(SocketShutdown how)
    {
        if (how is not (SocketShutdown.Receive or SocketShutdown.Send or SocketShutdown.Both))
        {
            throw new ArgumentOutOfRangeException(nameof(how), how, "Shut down Receive, Send or Both: a unix socket has no other direction.");
        }
        using var scope = new DescriptorScope(_descriptor);
        // SocketShutdown's values are SHUT_RD (0), SHUT_WR (1) and SHUT_RDWR (2).
        if (Interop.Libc.Shutdown(scope.Fd, (int)how) != 0)
        {
            var errno = Marshal.GetLastPInvokeError(); // before the message is formatted
            throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"shutdown(fd {scope.Fd}, {how})"), errno);
        }
    }

    /// <summary>
    /// Shuts down both directions (shutdown(fd, SHUT_RDWR)), as <see cref="Shutdown"/> with <see cref="SocketShutdown.Both"/>
    /// does, but its code needs nothing outside this assembly and the core library: <see cref="Shutdown"/>'s
    /// <see cref="SocketShutdown"/> lives in System.Net.Primitives, which a process out of descriptors cannot load
    /// (opening the assembly takes one), so a close that must work then uses this. Allocates only when it fails.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket was disposed.</exception>
    /// <exception cref="NativeException">shutdown failed (Linux gives none for a unix socket, connected or not, as <see cref="Shutdown"/> says; a security module's refusal is reported, not lost).</exception>
    public void ShutdownReadWrite()
    {
        using var scope = new DescriptorScope(_descriptor);
        if (Interop.Libc.Shutdown(scope.Fd, Interop.Libc.SHUT_RDWR) != 0)
        {
            var errno = Marshal.GetLastPInvokeError(); // before the message is formatted
            throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"shutdown(fd {scope.Fd}, SHUT_RDWR)"), errno);
        }
    }

    /// <summary>Closes the socket (deferred while a call on another thread still uses it). Does not remove a bound path.</summary>
    public void Dispose() => _descriptor.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"seqpacket({_descriptor})";

    /// <summary>
    /// recvmsg with MSG_CMSG_CLOEXEC and MSG_TRUNC (so the result is the real message length). Returns -1 for
    /// EAGAIN under MSG_DONTWAIT. <paramref name="maxDescriptors"/> sizes the control buffer (tests make it small).
    /// </summary>
    internal int ReceiveCore(Span<byte> buffer, ICollection<FileDescriptor>? descriptors, int flags, int maxDescriptors)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("The receive buffer must have room for at least one byte.", nameof(buffer));
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDescriptors);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDescriptors, MaxDescriptorsPerMessage);
        var controlLength = Interop.Libc.CmsgSpace((nuint)(maxDescriptors * sizeof(int)));
        var control = stackalloc ulong[(int)(controlLength / sizeof(ulong))];
        using var scope = new DescriptorScope(_descriptor);
        fixed (byte* data = buffer)
        {
            Interop.Libc.IoVec vector = new() { iov_base = data, iov_len = (nuint)buffer.Length };
            Interop.Libc.MsgHdr header = new() { msg_iov = &vector, msg_iovlen = 1, msg_control = control };
            nint length;
            while (true)
            {
                header.msg_controllen = controlLength;
                header.msg_flags = 0;
                length = Interop.Libc.RecvMsg(scope.Fd, &header, flags | Interop.Libc.MSG_CMSG_CLOEXEC | Interop.Libc.MSG_TRUNC);
                if (length >= 0)
                {
                    break;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == Interop.Errno.EAGAIN && (flags & Interop.Libc.MSG_DONTWAIT) != 0)
                {
                    return -1;
                }
                if (errno != Interop.Errno.EINTR)
                {
                    throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"recvmsg(fd {scope.Fd})"), errno);
                }
            }

            // Collect every descriptor the kernel installed, before deciding anything, so none can leak.
            var fds = stackalloc int[MaxDescriptorsPerMessage];
            var count = 0;
            var end = (byte*)control + header.msg_controllen;
            for (var cmsg = Interop.Libc.CmsgFirstHdr(&header); cmsg != null; cmsg = Interop.Libc.CmsgNextHdr(&header, cmsg))
            {
                if (cmsg->cmsg_level != Interop.Libc.SOL_SOCKET || cmsg->cmsg_type != Interop.Libc.SCM_RIGHTS
                    || cmsg->cmsg_len < Interop.Libc.CmsgLen(0) || (byte*)cmsg + cmsg->cmsg_len > end)
                {
                    continue;
                }
                var cmsgFds = (int*)Interop.Libc.CmsgData(cmsg);
                var cmsgCount = (int)((cmsg->cmsg_len - Interop.Libc.CmsgLen(0)) / sizeof(int));
                for (var i = 0; i < cmsgCount && count < MaxDescriptorsPerMessage; i++)
                {
                    fds[count++] = cmsgFds[i];
                }
            }

            string? problem = null;
            if ((header.msg_flags & Interop.Libc.MSG_TRUNC) != 0)
            {
                problem = string.Create(CultureInfo.InvariantCulture,
                    $"the {length}-byte message did not fit the {buffer.Length}-byte buffer (MSG_TRUNC)");
            }
            else if ((header.msg_flags & Interop.Libc.MSG_CTRUNC) != 0)
            {
                problem = string.Create(CultureInfo.InvariantCulture,
                    $"the message carried more descriptors than the {maxDescriptors} there was room for (MSG_CTRUNC)");
            }
            else if (count > 0 && descriptors is null)
            {
                problem = string.Create(CultureInfo.InvariantCulture,
                    $"the message carried {count} descriptor(s) but the caller passed no collection to receive them");
            }
            if (problem is not null)
            {
                for (var i = 0; i < count; i++)
                {
                    _ = Interop.Libc.Close(fds[i]);
                }
                throw new IOException(string.Create(CultureInfo.InvariantCulture,
                    $"recvmsg(fd {scope.Fd}): {problem}; the message was discarded and the {count} descriptor(s) received with it were closed. Receive into a buffer as large as the largest message the protocol allows, and pass a collection when descriptors are expected."));
            }

            var adopted = 0;
            try
            {
                for (; adopted < count; adopted++)
                {
                    descriptors!.Add(new FileDescriptor(fds[adopted]));
                }
            }
            finally
            {
                for (var i = adopted; i < count; i++)
                {
                    // Only reached when Add threw: close what the caller never got.
                    _ = Interop.Libc.Close(fds[i]);
                }
            }
            return (int)length;
        }
    }

    private static uint MakeAddress(string path, Interop.Libc.SockaddrUn* address)
    {
        ArgumentNullException.ThrowIfNull(path);
        LinuxPlatform.EnsureSupported();
        if (path.Length == 0 || path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A Unix socket path must be non-empty and contain no NUL; got '{path}'. Abstract-namespace sockets are not supported.", nameof(path));
        }
        var byteCount = Encoding.UTF8.GetByteCount(path);
        if (byteCount > MaxPathLength)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The Unix socket path '{path}' is {byteCount} UTF-8 bytes; sockaddr_un.sun_path holds at most {MaxPathLength} (108 with the terminating NUL). Use a shorter directory, e.g. under $XDG_RUNTIME_DIR or /tmp."),
                nameof(path));
        }
        *address = default;
        address->sun_family = Interop.Libc.AF_UNIX;
        Encoding.UTF8.GetBytes(path, new Span<byte>(address->sun_path, MaxPathLength));
        return (uint)(sizeof(ushort) + byteCount + 1);
    }
}
