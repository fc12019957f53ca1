using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int AF_UNIX = 1;
        internal const int SOCK_SEQPACKET = 5;
        internal const int SOCK_CLOEXEC = 0x80000;
        internal const int SOL_SOCKET = 1;
        internal const int SCM_RIGHTS = 1;
        internal const int SO_PEERCRED = 17;
        internal const int SO_SNDBUF = 7;

        /// <summary>shutdown(2)'s how: both directions.</summary>
        internal const int SHUT_RDWR = 2;

        /// <summary>SO_PEERPIDFD (Linux 6.5+): a pidfd for the peer that connected, valid in every pid namespace.</summary>
        internal const int SO_PEERPIDFD = 77;
        internal const int MSG_CTRUNC = 0x8;
        internal const int MSG_TRUNC = 0x20;
        internal const int MSG_DONTWAIT = 0x40;
        internal const int MSG_NOSIGNAL = 0x4000;
        internal const int MSG_CMSG_CLOEXEC = 0x40000000;

        /// <summary>The size of sockaddr_un.sun_path, including the terminating NUL of a pathname socket.</summary>
        internal const int SunPathLength = 108;

        /// <summary>SCM_MAX_FD: the most descriptors one SCM_RIGHTS message carries.</summary>
        internal const int ScmMaxFd = 253;

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct IoVec
        {
            public void* iov_base;
            public nuint iov_len;
        }

        /// <summary>struct msghdr on 64-bit Linux (sequential layout adds the padding after msg_namelen and msg_flags).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct MsgHdr
        {
            public void* msg_name;
            public uint msg_namelen;
            public IoVec* msg_iov;
            public nuint msg_iovlen;
            public void* msg_control;
            public nuint msg_controllen;
            public int msg_flags;
        }

        /// <summary>struct cmsghdr on 64-bit Linux; the data follows at the next 8-byte boundary (offset 16).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct CmsgHdr
        {
            public nuint cmsg_len;
            public int cmsg_level;
            public int cmsg_type;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct SockaddrUn
        {
            public ushort sun_family;
            public fixed byte sun_path[SunPathLength];
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct UCred
        {
            public int pid;
            public uint uid;
            public uint gid;
        }

        /// <summary>CMSG_ALIGN: control messages are aligned to sizeof(size_t).</summary>
        internal static nuint CmsgAlign(nuint length) => (length + 7) & ~(nuint)7;

        /// <summary>CMSG_SPACE: the room one control message with <paramref name="dataLength"/> bytes takes.</summary>
        internal static unsafe nuint CmsgSpace(nuint dataLength) => CmsgAlign((nuint)sizeof(CmsgHdr)) + CmsgAlign(dataLength);

        /// <summary>CMSG_LEN: the cmsg_len of a control message with <paramref name="dataLength"/> bytes.</summary>
        internal static unsafe nuint CmsgLen(nuint dataLength) => CmsgAlign((nuint)sizeof(CmsgHdr)) + dataLength;

        /// <summary>CMSG_DATA.</summary>
        internal static unsafe byte* CmsgData(CmsgHdr* header) => (byte*)header + CmsgAlign((nuint)sizeof(CmsgHdr));

        /// <summary>CMSG_FIRSTHDR.</summary>
        internal static unsafe CmsgHdr* CmsgFirstHdr(MsgHdr* message) =>
            message->msg_controllen >= (nuint)sizeof(CmsgHdr) ? (CmsgHdr*)message->msg_control : null;

        /// <summary>CMSG_NXTHDR (glibc's checks: a header shorter than itself ends the walk, and the next header must fit).</summary>
        internal static unsafe CmsgHdr* CmsgNextHdr(MsgHdr* message, CmsgHdr* header)
        {
            if (header->cmsg_len < (nuint)sizeof(CmsgHdr))
            {
                return null;
            }
            var next = (byte*)header + CmsgAlign(header->cmsg_len);
            var end = (byte*)message->msg_control + message->msg_controllen;
            if (next + sizeof(CmsgHdr) > end || next + CmsgAlign(((CmsgHdr*)next)->cmsg_len) > end)
            {
                return null;
            }
            return (CmsgHdr*)next;
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
        internal static partial int Socket(int domain, int type, int protocol);

        [LibraryImport(Libraries.Libc, EntryPoint = "socketpair", SetLastError = true)]
        internal static unsafe partial int SocketPair(int domain, int type, int protocol, int* sockets);

        [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
        internal static unsafe partial int Bind(int fd, SockaddrUn* address, uint addressLength);

        [LibraryImport(Libraries.Libc, EntryPoint = "listen", SetLastError = true)]
        internal static partial int Listen(int fd, int backlog);

        [LibraryImport(Libraries.Libc, EntryPoint = "accept4", SetLastError = true)]
        internal static unsafe partial int Accept4(int fd, void* address, uint* addressLength, int flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
        internal static unsafe partial int Connect(int fd, SockaddrUn* address, uint addressLength);

        [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
        internal static unsafe partial nint SendMsg(int fd, MsgHdr* message, int flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg", SetLastError = true)]
        internal static unsafe partial nint RecvMsg(int fd, MsgHdr* message, int flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "getsockopt", SetLastError = true)]
        internal static unsafe partial int GetSockOpt(int fd, int level, int option, void* value, uint* valueLength);

        [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
        internal static unsafe partial int SetSockOpt(int fd, int level, int option, void* value, uint valueLength);

        [LibraryImport(Libraries.Libc, EntryPoint = "shutdown", SetLastError = true)]
        internal static partial int Shutdown(int fd, int how);
    }
}
