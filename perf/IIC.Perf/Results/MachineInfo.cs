using System.Runtime.InteropServices;

namespace IIC.Perf.Results;

/// <summary>The machine a run measured: the numbers only mean something next to it.</summary>
/// <param name="LoadAvg">The 1-minute load average when the run started: other work competing for the CPUs.</param>
internal sealed record MachineInfo(int Cpus, string CpuModel, string Kernel, string Runtime, string Os, double? LoadAvg)
{
    public static MachineInfo Current() => new(
        Environment.ProcessorCount,
        ReadCpuModel(),
        ReadFirstLine("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.VersionString,
        RuntimeInformation.FrameworkDescription,
        RuntimeInformation.OSDescription,
        ReadLoadAverage());

    /// <summary>
    /// Whether other work was likely competing for the CPUs: then spinning transports lose whole time slices and
    /// look far worse than they are, and wake-ups look better (busy CPUs do not halt).
    /// </summary>
    public bool IsBusy => LoadAvg >= Cpus / 2.0;

    /// <summary>The 1-minute load average now (from /proc/loadavg), or null.</summary>
    public static double? ReadLoadAverage()
    {
        var first = ReadFirstLine("/proc/loadavg")?.Split(' ')[0];
        return double.TryParse(first, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var load) ? load : null;
    }

    private static string ReadCpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            return File.ReadLines(path).FirstOrDefault()?.Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
