using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int PR_SET_DUMPABLE = 4;
        internal const int PR_GET_DUMPABLE = 3;
        internal const int RLIMIT_NOFILE = 7;

        [StructLayout(LayoutKind.Sequential)]
        internal struct RLimit
        {
            public ulong rlim_cur;
            public ulong rlim_max;
        }

        /// <summary>prctl(2) with one argument (the others zero).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "prctl", SetLastError = true)]
        internal static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

        [LibraryImport(Libraries.Libc, EntryPoint = "getrlimit", SetLastError = true)]
        internal static unsafe partial int GetRLimit(int resource, RLimit* limit);
    }
}
