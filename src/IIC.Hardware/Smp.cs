using System.Globalization;

namespace IIC.Hardware;

/// <summary>
/// The host as a symmetric multiprocessor: its logical CPUs, cache-line size, NUMA nodes and which CPUs share
/// a physical core, read once from /sys with safe fallbacks (a missing file never fails the caller).
/// </summary>
public static class Smp
{
    /// <summary>
    /// The padding unit for hot shared words: two 64-byte lines, because the adjacent-line prefetcher on x64
    /// pulls lines in pairs and would otherwise couple two independently written words.
    /// </summary>
    public const int PaddedLineSize = 128;

    private const string SysCpu = "/sys/devices/system/cpu";

    private static readonly Lazy<int> s_cacheLineSize = new(ReadCacheLineSize);
    private static readonly Lazy<int> s_numaNodeCount = new(ReadNumaNodeCount);
    private static readonly Lazy<IReadOnlyList<IReadOnlyList<int>>> s_cores = new(() => ReadCores());

    /// <summary>Logical CPUs this process may run on.</summary>
    public static int LogicalCpuCount => Environment.ProcessorCount;

    /// <summary>The coherency line size of the L1 data cache (64 when /sys does not say).</summary>
    public static int CacheLineSize => s_cacheLineSize.Value;

    /// <summary>NUMA nodes with CPUs or memory (1 when /sys does not say).</summary>
    public static int NumaNodeCount => s_numaNodeCount.Value;

    /// <summary>Physical cores, each as the list of logical CPUs (hyperthreads) that share it.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Cores => s_cores.Value;

    /// <summary>
    /// Picks <paramref name="count"/> CPUs on distinct physical cores where the host has enough, so that two
    /// spinning threads do not share a core's execution units; otherwise distinct logical CPUs.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public static IReadOnlyList<int> PickSpinningCpus(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var cores = Cores;
        var picked = new List<int>(count);
        for (var round = 0; picked.Count < count && round < 64; round++)
        {
            foreach (var core in cores)
            {
                if (round < core.Count && picked.Count < count)
                {
                    picked.Add(core[round]);
                }
            }
        }
        for (var cpu = 0; picked.Count < count; cpu++)
        {
            picked.Add(cpu % Math.Max(1, LogicalCpuCount));
        }
        return picked;
    }

    /// <summary>Parses a /sys CPU list such as <c>0-3,8,10-11</c>.</summary>
    /// <exception cref="FormatException">The text is not a CPU list.</exception>
    public static IReadOnlyList<int> ParseCpuList(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cpus = new List<int>();
        foreach (var part in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                cpus.Add(int.Parse(part, CultureInfo.InvariantCulture));
                continue;
            }
            var first = int.Parse(part.AsSpan(0, dash), CultureInfo.InvariantCulture);
            var last = int.Parse(part.AsSpan(dash + 1), CultureInfo.InvariantCulture);
            if (last < first || last - first > 65536)
            {
                throw new FormatException($"'{part}' is not a CPU range (first-last with first <= last).");
            }
            for (var cpu = first; cpu <= last; cpu++)
            {
                cpus.Add(cpu);
            }
        }
        return cpus;
    }

    private static int ReadCacheLineSize()
    {
        var text = TryRead($"{SysCpu}/cpu0/cache/index0/coherency_line_size");
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var size) && size is >= 16 and <= 1024 && (size & (size - 1)) == 0 ? size : 64;
    }

    private static int ReadNumaNodeCount()
    {
        var text = TryRead("/sys/devices/system/node/online");
        try
        {
            return text is null ? 1 : Math.Max(1, ParseCpuList(text).Count);
        }
        catch (FormatException)
        {
            return 1;
        }
    }

    private static List<IReadOnlyList<int>> ReadCores()
    {
        var cores = new List<IReadOnlyList<int>>();
        var seen = new HashSet<int>();
        for (var cpu = 0; cpu < LogicalCpuCount; cpu++)
        {
            if (seen.Contains(cpu))
            {
                continue;
            }
            IReadOnlyList<int> siblings;
            try
            {
                var text = TryRead($"{SysCpu}/cpu{cpu}/topology/thread_siblings_list");
                siblings = text is null ? [cpu] : ParseCpuList(text);
            }
            catch (FormatException)
            {
                siblings = [cpu];
            }
            foreach (var sibling in siblings)
            {
                seen.Add(sibling);
            }
            cores.Add(siblings);
        }
        return cores;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
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
