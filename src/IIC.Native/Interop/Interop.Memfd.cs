using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const uint MFD_CLOEXEC = 0x1;
        internal const uint MFD_ALLOW_SEALING = 0x2;

        [LibraryImport(Libraries.Libc, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int MemfdCreate(string name, uint flags);

        [LibraryImport(Libraries.Libc, EntryPoint = "ftruncate", SetLastError = true)]
        internal static partial int Ftruncate(int fd, long length);
    }
}
