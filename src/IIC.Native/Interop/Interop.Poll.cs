using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const short POLLIN = 0x1;
        internal const short POLLOUT = 0x4;

        /// <summary>poll(2). <paramref name="fds"/> points at struct pollfd { int fd; short events; short revents; }
        /// (IIC.Native.PollEntry has that layout).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
        internal static unsafe partial int Poll(void* fds, nuint count, int timeoutMilliseconds);
    }
}
