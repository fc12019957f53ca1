using System.Diagnostics;

namespace IIC.Perf.Harness;

/// <summary>Whether a child this program started still runs (the measurement children and the scaling tests' helpers).</summary>
internal static class ProcessLiveness
{
    /// <summary>
    /// True while <paramref name="process"/> runs; false once it has exited, and for a process that was never started
    /// or whose handle is gone (<see cref="Process.HasExited"/> then throws <see cref="InvalidOperationException"/>).
    /// </summary>
    public static bool IsRunning(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            return !process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
