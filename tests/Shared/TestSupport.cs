using System.Diagnostics;

namespace IIC.Tests;

/// <summary>Helpers the window, ring and endpoint tests share: deadlines, deterministic payloads, bounded runs, child counters.</summary>
internal static class TestSupport
{
    public static long DeadlineIn(TimeSpan span) => Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);

    public static long DeadlineIn(double seconds) => DeadlineIn(TimeSpan.FromSeconds(seconds));

    /// <summary>Fills a payload deterministically from a seed-like value.</summary>
    public static void Fill(Span<byte> payload, int salt)
    {
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)((i * 131) ^ salt ^ (salt >> 8));
        }
    }

    public static bool Matches(ReadOnlySpan<byte> payload, int salt)
    {
        for (var i = 0; i < payload.Length; i++)
        {
            if (payload[i] != (byte)((i * 131) ^ salt ^ (salt >> 8)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a dedicated thread and fails if it does not finish within <paramref name="timeout"/>
    /// (a validation that spins forever must fail the test, not hang it). Returns what it threw.
    /// </summary>
    public static async Task<Exception?> RunBounded(Action action, TimeSpan timeout)
    {
        var task = Task.Factory.StartNew(() =>
        {
            try
            {
                action();
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        return await task.WaitAsync(timeout);
    }

    /// <summary>Parses "key=value key=value" into a dictionary.</summary>
    public static Dictionary<string, string> ParseCounters(string line)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                result[part[..eq]] = part[(eq + 1)..];
            }
        }
        return result;
    }

    public static long Counter(Dictionary<string, string> counters, string name) => long.Parse(counters[name], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CPU time (user + system) of process <paramref name="pid"/> so far, from /proc/pid/stat.</summary>
    public static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // Fields after "(comm)": state is index 0, so utime (field 14) is index 11 and stime (15) is index 12.
        var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }
}
