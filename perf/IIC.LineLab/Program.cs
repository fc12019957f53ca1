using System.Diagnostics;
using System.Globalization;
using IIC.Native;

namespace IIC.LineLab;

/// <summary>
/// Issue 17, round 11: a lab that explains the 32 B echo's distance from the placement probe. One process pair (this
/// process measures, a child started on the same memfd echoes), and rounds in which every step runs once, interleaved,
/// so each step sees the placement its neighbours saw (every other round in reverse order, so no step always
/// follows the same one). The steps go one change at a time from the probe (one flag line
/// per direction, the writer stores a counter, the reader spins on it) toward the per-hop work of iic's poll-claim echo:
/// a 32 B payload in the flag's line, the checksum read of it, a new line per message (a ring), the length protocol
/// with the consumer clearing the lines it read, the consumer's head publication, the writer's load of the doorbell's
/// armed word, the publish as an exchange, the writer's informational tail store, the per-message counters.
/// </summary>
/// <remarks>
/// Usage: <c>IIC.LineLab [rounds] [round trips per step] [step names, comma separated]</c>. Prints each round's p50/p99
/// per step and the median over rounds of each step's p50 and p99 and of its p50 divided by the same round's probe.
/// </remarks>
internal static class Program
{
    private const string ChildVerb = "__echo";

    public static int Main(string[] args)
    {
        if (!LinuxPlatform.IsSupported)
        {
            Console.Error.WriteLine("IIC.LineLab needs Linux.");
            return 2;
        }
        if (args.Length == 4 && args[0] == ChildVerb)
        {
            return LabMemory.RunChild(int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture), args[3]);
        }
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7;
        var trips = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200_000;
        var steps = Steps.All;
        if (args.Length > 2)
        {
            var wanted = args[2].Split(',', StringSplitOptions.RemoveEmptyEntries);
            steps = [.. Steps.All.Where(s => wanted.Contains(s.Name, StringComparer.Ordinal))];
        }
        using var lab = LabMemory.StartChild(ChildVerb);
        return Measure(lab, steps, rounds, trips);
    }

    private static int Measure(LabMemory lab, Step[] steps, int rounds, int trips)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"IIC.LineLab: {rounds} rounds x {steps.Length} steps x {trips:N0} round trips, each step's first {trips / 10:N0} not counted; {Environment.ProcessorCount} CPUs, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
        var p50 = new double[steps.Length, rounds];
        var p99 = new double[steps.Length, rounds];
        var samples = new long[trips];
        for (var round = 0; round < rounds; round++)
        {
            var line = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}:"));
            for (var k = 0; k < steps.Length; k++)
            {
                // Every other round runs the steps in reverse order, so no step always follows the same neighbour.
                var s = round % 2 == 0 ? k : steps.Length - 1 - k;
                var step = steps[s];
                lab.Run(step, trips, samples);
                var counted = samples.AsSpan(trips / 10);
                counted.Sort();
                p50[s, round] = ToNs(counted[counted.Length / 2]);
                p99[s, round] = ToNs(counted[(int)(counted.Length * 0.99)]);
                line.Append(CultureInfo.InvariantCulture, $" {step.Name} {p50[s, round]:F0}/{p99[s, round]:F0}");
                if (s_trimmedMean)
                {
                    // Round 14: the clock steps by ~10 ns here, so a p50 moves in 10 ns steps; the mean of the middle 80 %
                    // of the samples resolves smaller differences (IIC_LAB_TRIMMED=1; printed as ~mean after the p99).
                    line.Append(CultureInfo.InvariantCulture, $"~{TrimmedMean(counted):F1}");
                }
            }
            Console.WriteLine(line.ToString());
        }
        Console.WriteLine();
        Console.WriteLine("step                 what it adds to the step above it                                 p50 ns  p99 ns  p50/probe (median of rounds)");
        for (var s = 0; s < steps.Length; s++)
        {
            var ratios = new double[rounds];
            for (var round = 0; round < rounds; round++)
            {
                ratios[round] = p50[s, round] / p50[0, round];
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{steps[s].Name,-20} {steps[s].Description,-65} {Median(p50, s),6:F0}  {Median(p99, s),6:F0}  {Median(ratios),5:F2}"));
        }
        return 0;
    }

    private static double Median(double[,] values, int row)
    {
        var list = new double[values.GetLength(1)];
        for (var i = 0; i < list.Length; i++)
        {
            list[i] = values[row, i];
        }
        return Median(list);
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values[values.Length / 2];
    }

    private static double ToNs(long ticks) => ticks * 1e9 / Stopwatch.Frequency;

    private static readonly bool s_trimmedMean = Environment.GetEnvironmentVariable("IIC_LAB_TRIMMED") == "1";

    /// <summary>The mean of the sorted samples between the 10th and the 90th percentile, ns.</summary>
    private static double TrimmedMean(Span<long> sorted)
    {
        var from = sorted.Length / 10;
        var to = sorted.Length - from;
        double sum = 0;
        for (var i = from; i < to; i++)
        {
            sum += sorted[i];
        }
        return ToNs(1) * sum / (to - from);
    }
}
