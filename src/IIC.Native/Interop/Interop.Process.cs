using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        [LibraryImport(Libraries.Libc, EntryPoint = "getpid")]
        internal static partial int GetPid();

        [LibraryImport(Libraries.Libc, EntryPoint = "getuid")]
        internal static partial uint GetUid();

        [LibraryImport(Libraries.Libc, EntryPoint = "getgid")]
        internal static partial uint GetGid();

        [LibraryImport(Libraries.Libc, EntryPoint = "geteuid")]
        internal static partial uint GetEuid();

        [LibraryImport(Libraries.Libc, EntryPoint = "getegid")]
        internal static partial uint GetEgid();
    }
}
