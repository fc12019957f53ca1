using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// Which CPUs the calling thread may run on (sched_setaffinity / sched_getaffinity with pid 0, which means the
/// calling thread, not the process) and which CPU it runs on now (sched_getcpu). Pinning the two ends of a
/// channel to chosen cores makes latency stable. Note that a .NET thread-pool thread keeps its affinity after
/// the work item ends: pin dedicated threads.
/// </summary>
public static unsafe class CpuAffinity
{
    private const int BitsPerWord = 64;

    // The kernel refuses a mask shorter than its CPU count (EINVAL); grow up to this many CPUs.
    private const int MaxCpus = 1 << 16;

    /// <summary>Restricts the calling thread to <paramref name="cpus"/>; the kernel moves it at once if it is elsewhere.</summary>
    /// <param name="cpus">CPU numbers (0-based, as in /proc/cpuinfo); duplicates are allowed.</param>
    /// <exception cref="ArgumentException">No CPUs, or a negative or absurdly large number.</exception>
    /// <exception cref="NativeException">sched_setaffinity failed: EINVAL when none of the CPUs is online and allowed (cgroup cpuset).</exception>
    public static void SetForCurrentThread(ReadOnlySpan<int> cpus)
    {
        LinuxPlatform.EnsureSupported();
        if (cpus.IsEmpty)
        {
            throw new ArgumentException("Name at least one CPU to run on.", nameof(cpus));
        }
        var highest = 0;
        foreach (var cpu in cpus)
        {
            if (cpu is < 0 or >= MaxCpus)
            {
                throw new ArgumentOutOfRangeException(nameof(cpus), cpu, string.Create(CultureInfo.InvariantCulture,
                    $"CPU numbers go from 0 to {MaxCpus - 1}; got {cpu}. See Environment.ProcessorCount and /sys/devices/system/cpu/online."));
            }
            highest = Math.Max(highest, cpu);
        }
        var words = highest / BitsPerWord + 1;
        var mask = stackalloc ulong[words];
        new Span<ulong>(mask, words).Clear();
        foreach (var cpu in cpus)
        {
            mask[cpu / BitsPerWord] |= 1UL << (cpu % BitsPerWord);
        }
        if (Interop.Libc.SchedSetAffinity(0, (nuint)(words * sizeof(ulong)), mask) != 0)
        {
            throw NativeException.FromLastError($"sched_setaffinity(0, [{string.Join(',', cpus.ToArray())}])");
        }
    }

    /// <summary>The CPUs the calling thread may run on, in ascending order.</summary>
    /// <exception cref="NativeException">sched_getaffinity failed.</exception>
    public static int[] GetForCurrentThread()
    {
        LinuxPlatform.EnsureSupported();
        for (var words = 1024 / BitsPerWord; ; words *= 2)
        {
            var mask = new ulong[words];
            int result;
            fixed (ulong* pointer = mask)
            {
                result = Interop.Libc.SchedGetAffinity(0, (nuint)(words * sizeof(ulong)), pointer);
            }
            if (result == 0)
            {
                var cpus = new List<int>();
                for (var word = 0; word < words; word++)
                {
                    for (var bits = mask[word]; bits != 0; bits &= bits - 1)
                    {
                        cpus.Add(word * BitsPerWord + System.Numerics.BitOperations.TrailingZeroCount(bits));
                    }
                }
                return [.. cpus];
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Interop.Errno.EINVAL || words * BitsPerWord >= MaxCpus)
            {
                throw new NativeException(string.Create(CultureInfo.InvariantCulture, $"sched_getaffinity(0, {words * sizeof(ulong)} bytes)"), errno);
            }
        }
    }

    /// <summary>The CPU the calling thread ran on when asked (sched_getcpu; it may move right after).</summary>
    /// <exception cref="NativeException">sched_getcpu failed (ENOSYS).</exception>
    public static int CurrentCpu
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return NativeException.ThrowIfFailed(Interop.Libc.SchedGetCpu(), "sched_getcpu()");
        }
    }
}
