using IIC.Perf.Core;
using IIC.Perf.Harness;

namespace IIC.Perf.Results;

/// <summary>
/// The ratios that matter: every transport against the reference (IICFast when it ran, else the raw shared-memory
/// ceiling), as "how many times slower": p50 and p99 latency ratios, and the reference's messages/s over theirs.
/// The reference's best mode is used for each column.
/// </summary>
internal static class RatioTable
{
    public const string Iic = "iic";
    public const string RawShm = "raw-shm";

    public static string ReferenceTransport(IReadOnlyList<BenchResult> results)
        => results.Any(r => r.Transport == Iic && r.IsOk) ? Iic : RawShm;

    /// <summary>The best row of <paramref name="transport"/> for a test and size: lowest p50, or highest messages/s.</summary>
    public static BenchResult? Best(IReadOnlyList<BenchResult> results, string test, string transport, int size)
    {
        var candidates = results.Where(r => r.IsOk && r.ProbeMoved != true && r.Test == test && r.Transport == transport && r.Size == size);
        return test == BenchTest.Throughput.ToName()
            ? candidates.MaxBy(r => r.MsgsPerS ?? 0)
            : candidates.MinBy(r => r.P50Ns ?? long.MaxValue);
    }

    public static void Print(TextWriter writer, IReadOnlyList<BenchResult> results, string reference)
    {
        var columns = results.Where(r => r.IsOk && r.Transport != MemcpyBench.Name && r.Test is "pingpong" or "idlegap" or "throughput")
            .Select(r => (r.Test, r.Size)).Distinct()
            .Where(c => Best(results, c.Test, reference, c.Size) is not null)
            .OrderBy(c => TestOrder(c.Test)).ThenBy(c => c.Size).ToList();
        var transports = results.Where(r => r.IsOk && r.Transport != reference && r.Transport != MemcpyBench.Name).Select(r => r.Transport).Distinct().ToList();
        if (columns.Count == 0 || transports.Count == 0)
        {
            return;
        }
        writer.WriteLine();
        writer.WriteLine($"How many times slower than {reference} (best mode of each; latency: p50 / p99; throughput: {reference} msgs/s over theirs; below 1x: faster)");
        var table = new TextTable([("transport", false), .. columns.Select(c => ($"{c.Test} {SizeText.Format(c.Size)}", true))]);
        foreach (var transport in transports)
        {
            var cells = new List<string> { transport };
            foreach (var (test, size) in columns)
            {
                var mine = Best(results, test, transport, size);
                var theirs = Best(results, test, reference, size)!;
                cells.Add(mine is null || !Placement.Same(mine, theirs) ? "-" : test == BenchTest.Throughput.ToName()
                    ? Units.Ratio((theirs.MsgsPerS ?? 0) / (double)Math.Max(1, mine.MsgsPerS ?? 0))
                    : $"{Units.Ratio(Divide(mine.P50Ns, theirs.P50Ns))} / {Units.Ratio(Divide(mine.P99Ns, theirs.P99Ns))}");
            }
            table.Add([.. cells]);
        }
        table.Write(writer);
    }

    private static double Divide(long? numerator, long? denominator)
        => numerator is { } n && denominator is > 0 ? n / (double)denominator.Value : double.NaN;

    private static int TestOrder(string test) => test switch
    {
        "pingpong" => 0,
        "idlegap" => 1,
        _ => 2,
    };
}
