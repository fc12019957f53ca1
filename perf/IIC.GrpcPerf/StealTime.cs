namespace IIC.GrpcPerf;

/// <summary>
/// The share of CPU time the host took from this VM's vCPUs (the "steal" column of /proc/stat) over a span of the run.
/// A busy-spinning pair of reader threads sees every such pause: if the host takes a vCPU for tens of µs in more than 1 %
/// of the calls, that alone sets the p99, whatever the code does.
/// </summary>
internal readonly record struct StealTime(long Steal, long Total)
{
    /// <summary>The all-CPU counters now (0, 0 when /proc/stat cannot be read).</summary>
    public static StealTime Now()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var fields = reader.ReadLine()!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long total = 0;
            for (var i = 1; i < fields.Length && i <= 8; i++)
            {
                total += long.Parse(fields[i], System.Globalization.CultureInfo.InvariantCulture);
            }
            return new StealTime(fields.Length > 8 ? long.Parse(fields[8], System.Globalization.CultureInfo.InvariantCulture) : 0, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return default;
        }
    }

    /// <summary>Stolen share of all CPU time since <paramref name="start"/>, in percent ("-" when unknown).</summary>
    public string PercentSince(StealTime start)
        => Total > start.Total ? (100.0 * (Steal - start.Steal) / (Total - start.Total)).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " %" : "-";
}
