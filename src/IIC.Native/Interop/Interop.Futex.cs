using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        // Shared (non-private) operations: the words live in memory mapped by several processes.
        internal const int FUTEX_WAIT = 0;
        internal const int FUTEX_WAKE = 1;
        internal const uint FUTEX_32 = 2;
        internal const int CLOCK_MONOTONIC = 1;

        [StructLayout(LayoutKind.Sequential)]
        internal struct Timespec
        {
            public long tv_sec;
            public long tv_nsec;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct FutexWaitV
        {
            public ulong val;
            public ulong uaddr;
            public uint flags;
            public uint reserved;
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "clock_gettime", SetLastError = true)]
        internal static unsafe partial int ClockGetTime(int clock, Timespec* time);
    }
}
