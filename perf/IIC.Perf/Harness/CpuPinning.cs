using System.Diagnostics;

namespace IIC.Perf.Harness;

/// <summary>
/// --pin: puts each side of a measurement on its own CPU. On Linux, Process.ProcessorAffinity calls
/// sched_setaffinity for the process id, which is the main thread's id: it pins the main thread, which is the one
/// that runs the measurement loops, and threads it starts afterwards.
/// </summary>
internal static class CpuPinning
{
    /// <summary>The parent's (or client child's) CPU.</summary>
    public const int ClientCpu = 0;

    /// <summary>The server child's CPU.</summary>
    public const int ServerCpu = 1;

    /// <summary>Whether there are CPUs enough for --pin to mean anything.</summary>
    public static bool IsPossible => Environment.ProcessorCount >= 2;

    public static void PinMainThread(int cpu)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("--pin is implemented for Linux.");
        }
        using var process = Process.GetCurrentProcess();
        process.ProcessorAffinity = (nint)(1L << cpu);
    }
}
