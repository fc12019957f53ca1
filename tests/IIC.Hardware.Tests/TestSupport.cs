using System.Diagnostics;
using IIC.Native;

// Cross-process and timing tests share 2 cores with the runner: run tests one at a time so they measure what they claim.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace IIC.Hardware.Tests;

/// <summary>Helpers shared by the IIC.Hardware tests.</summary>
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

    /// <summary>Whether <paramref name="span"/> lies inside the window's mapping (zero copy: the reader hands out the ring itself).</summary>
    public static unsafe bool IsInside(SharedWindow window, ReadOnlySpan<byte> span)
    {
        using var lease = window.Lease();
        fixed (byte* p = span)
        {
            return p >= lease.Base && p + span.Length <= lease.Base + window.Size;
        }
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

    /// <summary>Starts a child scenario and hands it the window's memfd over the control socket.</summary>
    public static IIC.Tests.ChildProcess StartChild(SharedWindow window, string scenario, params string[] args)
    {
        var child = IIC.Tests.ChildProcess.Start(scenario, args);
        try
        {
            child.Send("window"u8, window.File);
            return child;
        }
        catch
        {
            child.Dispose();
            throw;
        }
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

    /// <summary>Copies the window's bytes into a fresh memfd (sealed unless told otherwise), lets the caller corrupt them, and returns the fd.</summary>
    public static FileDescriptor ForgeCopy(SharedWindow original, Action<MappedMemory> corrupt, long? size = null, FileSeals seals = SharedWindow.RequiredSeals)
    {
        var length = size ?? original.Size;
        var file = MemoryFile.Create("forged-window");
        try
        {
            MemoryFile.SetSize(file, length);
            using (var memory = MappedMemory.Map(file, length))
            {
                var copy = (int)Math.Min(length, original.Size);
                original.Memory.GetSpan(0, copy).CopyTo(memory.GetSpan(0, copy));
                corrupt(memory);
            }
            if (seals != 0)
            {
                MemoryFile.AddSeals(file, seals);
            }
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
