using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "pwrite", SetLastError = true)]
        internal static unsafe partial nint Pwrite(int fd, void* buffer, nuint count, long offset);
    }
}
