using System.Globalization;

namespace IIC.Native;

/// <summary>
/// What the kernel lets this process hold, and protection of its descriptors from same-uid processes: for
/// clear answers when a limit is reached ("EMFILE at 1024 descriptors: raise ulimit -n") and for a broker
/// that hands out memory it must not let /proc/PID/fd reopen.
/// </summary>
public static class ProcessLimits
{
    /// <summary>The soft limit on open descriptors (RLIMIT_NOFILE, what <c>ulimit -n</c> shows); -1 when unlimited or unknown.</summary>
    internal static unsafe long OpenFilesLimit
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            Interop.Libc.RLimit limit;
            return Interop.Libc.GetRLimit(Interop.Libc.RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == ulong.MaxValue ? -1 : (long)limit.rlim_cur;
        }
    }

    /// <summary>
    /// Makes this process non-dumpable (prctl PR_SET_DUMPABLE 0): /proc/PID/fd, /proc/PID/mem and ptrace then need
    /// CAP_SYS_PTRACE, so other processes of the same uid can no longer reopen the descriptors this one holds. Also
    /// disables core dumps and same-uid debuggers for the process.
    /// </summary>
    /// <exception cref="NativeException">prctl failed.</exception>
    public static void MakeNonDumpable()
    {
        LinuxPlatform.EnsureSupported();
        NativeException.ThrowIfFailed(Interop.Libc.Prctl(Interop.Libc.PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE, 0)");
    }

    /// <summary>Makes this process dumpable again (prctl PR_SET_DUMPABLE 1), once nothing it holds needs hiding.</summary>
    /// <exception cref="NativeException">prctl failed.</exception>
    internal static void MakeDumpable()
    {
        LinuxPlatform.EnsureSupported();
        NativeException.ThrowIfFailed(Interop.Libc.Prctl(Interop.Libc.PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE, 1)");
    }

    /// <summary>Whether this process is dumpable (prctl PR_GET_DUMPABLE).</summary>
    internal static bool IsDumpable
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return NativeException.ThrowIfFailed(Interop.Libc.Prctl(Interop.Libc.PR_GET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_GET_DUMPABLE)") != 0;
        }
    }

    /// <summary>Describes the descriptor limit for an error message, e.g. "the descriptor limit (ulimit -n) of 256".</summary>
    public static string DescribeOpenFilesLimit()
    {
        var limit = OpenFilesLimit;
        return limit < 0 ? "the descriptor limit (ulimit -n)" : string.Create(CultureInfo.InvariantCulture, $"the descriptor limit (ulimit -n) of {limit}");
    }
}
