using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int SEEK_DATA = 3;
        internal const int SEEK_HOLE = 4;

        [LibraryImport(Libraries.Libc, EntryPoint = "lseek", SetLastError = true)]
        internal static partial long Lseek(int fd, long offset, int whence);
    }
}
