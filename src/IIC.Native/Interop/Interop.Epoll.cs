using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int EPOLL_CLOEXEC = 0x80000;
        internal const int EPOLL_CTL_ADD = 1;
        internal const int EPOLL_CTL_DEL = 2;
        internal const uint EPOLLIN = 0x1;
        internal const uint EPOLLOUT = 0x4;
        internal const int EPOLL_CTL_MOD = 3;
        internal const uint EPOLLET = 1u << 31;

        /// <summary>epoll_create1(2).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "epoll_create1", SetLastError = true)]
        internal static partial int EpollCreate1(int flags);

        /// <summary>epoll_ctl(2). <paramref name="ev"/> points at a struct epoll_event (layout: IIC.Native.Epoll).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
        internal static unsafe partial int EpollCtl(int epfd, int op, int fd, void* ev);

        /// <summary>epoll_wait(2) into an array of struct epoll_event.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "epoll_wait", SetLastError = true)]
        internal static unsafe partial int EpollWait(int epfd, void* events, int maxEvents, int timeoutMilliseconds);
    }
}
