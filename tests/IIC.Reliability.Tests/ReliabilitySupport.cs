using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Tests;

namespace IIC.Reliability.Tests;

/// <summary>
/// The reliability tests run one at a time (they are timing- and CPU-heavy on a 2-core box, and the leak checks
/// count this process's descriptors and mappings, which a parallel test would disturb).
/// </summary>
[CollectionDefinition(nameof(SerialReliabilityTests), DisableParallelization = true)]
public sealed class SerialReliabilityTests;

/// <summary>Knobs for the long variants (docs/guarantees.md): each environment variable raises a default.</summary>
internal static class Knobs
{
    public static int Get(string variable, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;
}

/// <summary>What this process holds of the kernel: descriptors and IICFast memfd mappings (from /proc/self).</summary>
internal static class ProcSelf
{
    /// <summary>Open descriptors.</summary>
    public static int Descriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>Open descriptors that are IICFast memfds (windows and interrupt groups).</summary>
    public static int IicMemfdDescriptors()
    {
        var count = 0;
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (File.ResolveLinkTarget(fd, returnFinalTarget: false)?.FullName.Contains("memfd:iic", StringComparison.Ordinal) == true)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // closed while we looked (the directory listing itself, or another thread's descriptor)
            }
        }
        return count;
    }

    /// <summary>Lines of /proc/self/maps that map an IICFast memfd.</summary>
    public static int IicMappings() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("memfd:iic", StringComparison.Ordinal));

    /// <summary>CPU time (user + system) the calling thread has used.</summary>
    public static TimeSpan ThreadCpuTime()
    {
        var stat = File.ReadAllText($"/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>A process's resident set (VmRSS) in bytes.</summary>
    public static long ResidentBytes(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"No VmRSS for pid {pid}.");
    }

    /// <summary>Sends a signal with the kill command (as an operator would).</summary>
    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        Assert.True(kill.WaitForExit(TimeSpan.FromSeconds(10)), "kill did not finish");
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The scheduler state letter of a process (R, S, T for stopped, ...).</summary>
    public static char State(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }
}
