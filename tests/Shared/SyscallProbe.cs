using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Tests;

/// <summary>
/// Reads /proc/PID/task/TID/syscall to see whether some thread of a process is blocked in a given system call, so a
/// test can wake a waiter only once it is really parked in the kernel (not merely about to park). The file shows
/// "NR 0xARG1 0xARG2 ..." while the thread is in a call, and "running" otherwise.
/// </summary>
public static class SyscallProbe
{
    /// <summary>futex(2) on this architecture.</summary>
    public static long Futex { get; } = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 98 : 202;

    /// <summary>futex_waitv(2) (the same number on every architecture).</summary>
    public const long FutexWaitV = 449;

    /// <summary>True if a thread of <paramref name="processId"/> is inside <paramref name="syscall"/> with the given leading arguments.</summary>
    /// <param name="processId">The process (this one or a child).</param>
    /// <param name="syscall">The system call number.</param>
    /// <param name="arguments">The first arguments to match (e.g. the futex word's address), or none to match any call of that number.</param>
    public static bool AnyThreadIn(int processId, long syscall, params long[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var expected = syscall.ToString(CultureInfo.InvariantCulture);
        foreach (var argument in arguments)
        {
            expected += string.Create(CultureInfo.InvariantCulture, $" 0x{argument:x}");
        }
        expected += " ";
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{processId}/task");
        }
        catch (DirectoryNotFoundException)
        {
            return false; // the process is gone
        }
        foreach (var task in tasks)
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "syscall")).StartsWith(expected, StringComparison.Ordinal))
                {
                    return true;
                }
            }
            catch (IOException)
            {
                // the thread exited between listing and reading
            }
            catch (UnauthorizedAccessException)
            {
                // not ours to inspect
            }
        }
        return false;
    }
}
