using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int F_GETFD = 1;
        internal const int F_SETFD = 2;
        internal const int F_GETFL = 3;
        internal const int F_SETFL = 4;
        internal const int F_ADD_SEALS = 1033;
        internal const int F_GET_SEALS = 1034;
        internal const int FD_CLOEXEC = 1;
        internal const int O_NONBLOCK = 0x800;

        /// <summary>fcntl(2) with an int argument (the variadic third argument is passed in a register on x64 and arm64).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "fcntl", SetLastError = true)]
        internal static partial int Fcntl(int fd, int command, int argument);
    }
}
