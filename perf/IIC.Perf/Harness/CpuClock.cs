namespace IIC.Perf.Harness;

/// <summary>CPU time this process has used (user + system, all threads), for the cpu_s columns.</summary>
internal static class CpuClock
{
    public static double ProcessSeconds => Environment.CpuUsage.TotalTime.TotalSeconds;
}
