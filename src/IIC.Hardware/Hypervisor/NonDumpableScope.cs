using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Keeps the process non-dumpable while at least one hypervisor that asked for it runs (<see cref="HypervisorOptions.NonDumpable"/>),
/// and makes it dumpable again after the last one stopped, if it was dumpable before the first (a process that made
/// itself non-dumpable stays so).
/// </summary>
internal static class NonDumpableScope
{
    private static readonly object s_lock = new();
    private static int s_holders;
    private static bool s_restore;

    /// <exception cref="NativeException">prctl failed.</exception>
    public static void Enter()
    {
        lock (s_lock)
        {
            if (s_holders == 0)
            {
                s_restore = ProcessLimits.IsDumpable;
                ProcessLimits.MakeNonDumpable();
            }
            s_holders++;
        }
    }

    public static void Leave()
    {
        lock (s_lock)
        {
            if (--s_holders == 0 && s_restore)
            {
                ProcessLimits.MakeDumpable();
            }
        }
    }
}
