using System.Diagnostics;

namespace IIC.GrpcPerf;

/// <summary>
/// Where the host has put the two vCPUs right now: p50 of a few thousand round trips of one cache line between two
/// threads of this process, spinning (so the scheduler runs them on the two vCPUs). The host flips between near
/// (~100-180 ns) and far (~500-950 ns) placements within seconds, and every native number moves with it: the test
/// lines carry a probe taken before and after (<c>probe A/B ns</c>), and only rows whose probes agree compare.
/// An in-process version of IIC.Perf's cross-process PlacementProbe (same idea: two lines, 256 bytes apart).
/// </summary>
internal static class PlacementProbe
{
    private const int Warmup = 500;
    private const int Samples = 4000;

    /// <summary>The p50 round trip in ns; -1 if the echo thread did not answer within a second (the box is saturated).</summary>
    public static long Measure()
    {
        var lines = new long[64]; // ping at [0], pong at [32]: 256 bytes apart
        var samples = new long[Samples];
        var echo = new Thread(() =>
        {
            long last = 0;
            while (true)
            {
                var value = Volatile.Read(ref lines[0]);
                if (value == -1)
                {
                    return;
                }
                if (value != last)
                {
                    Volatile.Write(ref lines[32], value);
                    last = value;
                }
            }
        }) { IsBackground = true, Name = "placement probe echo" };
        echo.Start();
        var giveUp = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        var answered = true;
        for (var i = 1; i <= Warmup + Samples && answered; i++)
        {
            var before = Stopwatch.GetTimestamp();
            Volatile.Write(ref lines[0], i);
            var spins = 0;
            while (Volatile.Read(ref lines[32]) != i)
            {
                if ((++spins & 0xFFFF) == 0 && Stopwatch.GetTimestamp() > giveUp)
                {
                    answered = false;
                    break;
                }
            }
            if (i > Warmup)
            {
                samples[i - Warmup - 1] = Stopwatch.GetTimestamp() - before;
            }
        }
        Volatile.Write(ref lines[0], -1);
        echo.Join();
        if (!answered)
        {
            return -1;
        }
        Array.Sort(samples);
        return (long)Math.Round(samples[Samples / 2] * 1e9 / Stopwatch.Frequency);
    }
}
