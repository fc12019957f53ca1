namespace IIC.GrpcPerf;

/// <summary>
/// This process's minor page faults (field 10 of /proc/self/stat). A fresh process's GC heap is memory never touched
/// before: until gen0 has been collected a few times, every ~4 KB allocated costs a first-touch fault (the kernel zeroes
/// a page; on a VM the host may have to back it too), which is what the native unary p99 without warm-up is made of
/// (perf/RESULTS.md, "Branch native (round 7)").
/// </summary>
internal static class PageFaults
{
    /// <summary>Minor faults so far (-1 when /proc/self/stat cannot be read).</summary>
    public static long Minor()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain numbers.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture); // field 10 counted from 1, i.e. the 8th after ")"
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return -1;
        }
    }
}
