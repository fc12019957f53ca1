using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>sched_setaffinity(2); pid 0 is the calling thread. The mask is an array of unsigned longs, bit n = CPU n.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
        internal static unsafe partial int SchedSetAffinity(int pid, nuint maskSize, ulong* mask);

        /// <summary>sched_getaffinity(2); the glibc wrapper returns 0 on success and zeroes the mask beyond what the kernel wrote.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sched_getaffinity", SetLastError = true)]
        internal static unsafe partial int SchedGetAffinity(int pid, nuint maskSize, ulong* mask);

        [LibraryImport(Libraries.Libc, EntryPoint = "sched_getcpu", SetLastError = true)]
        internal static partial int SchedGetCpu();

        /// <summary>sched_setscheduler(2); pid 0 is the calling thread (Linux schedules threads). The parameter block is one int, the static priority (0 for SCHED_OTHER, SCHED_BATCH and SCHED_IDLE).</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sched_setscheduler", SetLastError = true)]
        internal static unsafe partial int SchedSetScheduler(int pid, int policy, int* param);

        /// <summary>sched_getscheduler(2); pid 0 is the calling thread.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "sched_getscheduler", SetLastError = true)]
        internal static partial int SchedGetScheduler(int pid);
    }
}
