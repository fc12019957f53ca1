namespace IIC.Native;

/// <summary>
/// The calling thread's scheduling policy (sched_setscheduler(2) with pid 0: Linux schedules threads, so this changes
/// the calling thread alone). For helper threads whose work may wait: under <c>SCHED_BATCH</c> a thread keeps its full
/// share of the CPU but never preempts the running thread when it wakes (the scheduler treats it as CPU-bound), so
/// handing it work does not push a latency-sensitive thread off its CPU. Needs no privilege.
/// <para>Not <c>SCHED_IDLE</c>, though it would defer such work further: a managed thread must also reach a safe point
/// for every garbage collection of its process and may hold a lock another thread waits for, and a SCHED_IDLE thread on
/// a box whose CPUs never idle can wait seconds for its turn, stalling both (priority inversion).</para>
/// </summary>
internal static unsafe class SchedulingPolicy
{
    /// <summary>SCHED_OTHER, the default time-sharing policy.</summary>
    public const int Other = 0;

    /// <summary>SCHED_BATCH: time-sharing at the same weight, without wake-up preemption.</summary>
    public const int Batch = 3;

    /// <summary>Moves the calling thread to <c>SCHED_BATCH</c>; false when the kernel refused (a seccomp filter, or not Linux).</summary>
    public static bool TrySetBatchForCurrentThread()
    {
        if (!LinuxPlatform.IsSupported)
        {
            return false;
        }
        var priority = 0;
        return Interop.Libc.SchedSetScheduler(0, Batch, &priority) == 0;
    }

    /// <summary>The calling thread's policy (e.g. <see cref="Other"/>, <see cref="Batch"/>), or -1 when it cannot be read.</summary>
    public static int OfCurrentThread() => LinuxPlatform.IsSupported ? Interop.Libc.SchedGetScheduler(0) : -1;
}
