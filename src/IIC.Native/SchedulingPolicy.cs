namespace IIC.Native;

/// <summary>
/// The calling thread's scheduling policy (sched_setscheduler(2) with pid 0: Linux schedules threads, so this changes
/// the calling thread alone). For helper threads whose work may wait: under <c>SCHED_IDLE</c> a thread runs only on a
/// CPU that has nothing else to run (its weight is the lowest there is, and any other thread that wakes preempts it),
/// so its work never delays the threads that serve requests. Lowering one's own policy to SCHED_IDLE needs no privilege.
/// </summary>
internal static unsafe class SchedulingPolicy
{
    /// <summary>SCHED_OTHER, the default time-sharing policy.</summary>
    public const int Other = 0;

    /// <summary>SCHED_IDLE: run only when the CPU would otherwise idle.</summary>
    public const int Idle = 5;

    /// <summary>Moves the calling thread to <c>SCHED_IDLE</c>; false when the kernel refused (a seccomp filter, or not Linux).</summary>
    public static bool TrySetIdleForCurrentThread()
    {
        if (!LinuxPlatform.IsSupported)
        {
            return false;
        }
        var priority = 0;
        return Interop.Libc.SchedSetScheduler(0, Idle, &priority) == 0;
    }

    /// <summary>The calling thread's policy (e.g. <see cref="Other"/>, <see cref="Idle"/>), or -1 when it cannot be read.</summary>
    public static int OfCurrentThread() => LinuxPlatform.IsSupported ? Interop.Libc.SchedGetScheduler(0) : -1;
}
