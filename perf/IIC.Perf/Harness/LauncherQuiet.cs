using System.Diagnostics;
using System.Globalization;

namespace IIC.Perf.Harness;

/// <summary>
/// Waits until the process that launched the job stops using CPU, before the first row. <c>dotnet run</c> (the README's
/// command) stays alive as the job's parent, and in the first seconds after it starts the app its own threads (the SDK's
/// telemetry: with <c>DOTNET_CLI_TELEMETRY_OPTOUT=1</c> the effect is gone) take one of the two vCPUs for tens of µs at a
/// time: the first rows read a p99 or p99.9 of 45-50 µs on both iic and raw-shm that nothing in the transports causes
/// (perf/RESULTS.md "Round 13 merged"). Only a parent named <c>dotnet</c> is waited for; a shell parent is left alone.
/// </summary>
internal static class LauncherQuiet
{
    private static readonly TimeSpan s_sample = TimeSpan.FromMilliseconds(100);
    private const int QuietSamples = 3; // 300 ms without one clock tick (10 ms) of the parent's CPU time

    /// <summary>Waits at most <paramref name="bound"/>; returns what it saw, for the run's log (null: nothing to wait for).</summary>
    public static string? WaitForQuietParent(TimeSpan bound)
    {
        var parent = ParentProcessId();
        if (parent is not { } pid || !IsDotnet(pid) || CpuTicks(pid) is not { } last)
        {
            return null;
        }
        var clock = Stopwatch.StartNew();
        var quiet = 0;
        while (quiet < QuietSamples && clock.Elapsed < bound)
        {
            Thread.Sleep(s_sample); // sampling another process's CPU clock: nothing here signals its quiet
            if (CpuTicks(pid) is not { } now)
            {
                return $"the launching dotnet process (pid {pid}) ended after {clock.Elapsed.TotalSeconds:0.0} s";
            }
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }
        return quiet >= QuietSamples
            ? $"waited {clock.Elapsed.TotalSeconds:0.0} s for the launching dotnet process (pid {pid}) to stop using CPU"
            : $"the launching dotnet process (pid {pid}) still used CPU after {bound.TotalSeconds:0} s; measuring anyway (set DOTNET_CLI_TELEMETRY_OPTOUT=1, or run the built program directly)";
    }

    private static int? ParentProcessId() => StatFields(Environment.ProcessId) is { } fields && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid) && ppid > 1 ? ppid : null;

    private static bool IsDotnet(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim() == "dotnet";
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>utime + stime of <paramref name="pid"/> in clock ticks (fields 14 and 15 of /proc/PID/stat).</summary>
    private static long? CpuTicks(int pid) => StatFields(pid) is { } fields
        && long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user)
        && long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system) ? user + system : null;

    /// <summary>The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses): [0] state, [1] ppid, ...</summary>
    private static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var end = stat.LastIndexOf(')');
            var fields = end < 0 ? [] : stat[(end + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 12 ? fields : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
