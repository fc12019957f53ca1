using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>Result rows as the harness makes them, with the placement probes it takes around each.</summary>
internal static class Rows
{
    public static BenchResult PingPong(string transport, string api, long p50Ns, long probeBefore, long probeAfter, long p99Ns = 0, long probeP99 = 0)
        => Placement.WithProbes(
            new BenchResult { Test = "pingpong", Transport = transport, Mode = "spin", Api = api, Size = 32, Count = 1000, P50Ns = p50Ns, P99Ns = p99Ns == 0 ? p50Ns * 2 : p99Ns },
            (probeBefore, probeP99 == 0 ? probeBefore * 2 : probeP99),
            (probeAfter, probeP99 == 0 ? probeAfter * 2 : probeP99),
            probing: true);

    /// <summary>The iic row of an interleaved 32 B one-way pair, carrying its rounds' ratios to raw-shm.</summary>
    public static BenchResult InterleavedOneWay(string api, params double?[] ratios) => new()
    {
        Test = "throughput",
        Transport = "iic",
        Mode = "spin",
        Api = api,
        Size = 32,
        MsgsPerS = 10_000_000,
        Rounds = ratios.Length,
        RoundsDropped = ratios.Count(r => r is null),
        InterleavedWith = "raw-shm",
        RoundRatios = ratios,
        RoundRatioMedian = RoundStatistics.Median([.. ratios.OfType<double>()]),
    };

    /// <summary>
    /// The two rows of an interleaved 32 B ping-pong pair (round 19): iic carrying its rounds' p50 and p99 ratios to
    /// raw-shm (null: a dropped round), both rows' pooled percentiles, and the probes (the kept rounds' medians). Every
    /// round's probe is <paramref name="probe"/> and every kept round's block reads the pooled p50 and p99, so its
    /// ratios to the probe before it (round 20) are the pooled rows' over the probe; its p99.9 ratios (round 21) are
    /// <paramref name="p999Ratios"/>, by default the pooled rows' p99.9 over each other in every kept round.
    /// </summary>
    public static (BenchResult Iic, BenchResult Raw) InterleavedPingPong(string api, double?[] p50Ratios, double?[]? p99Ratios = null, long iicP50 = 150, long rawP50 = 140, long iicP999 = 1000, long rawP999 = 900, long probe = 130, double?[]? p999Ratios = null)
    {
        var rounds = p50Ratios.Length;
        var dropped = p50Ratios.Count(r => r is null);
        var iic = PingPong("iic", api, iicP50, probe, probe) with
        {
            P999Ns = iicP999,
            Rounds = rounds,
            RoundsDropped = dropped,
            InterleavedWith = "raw-shm",
            RoundRatios = p50Ratios,
            RoundRatioMedian = RoundStatistics.Median([.. p50Ratios.OfType<double>()]),
            RoundP99Ratios = p99Ratios ?? p50Ratios,
            RoundP999Ratios = p999Ratios ?? [.. p50Ratios.Select(r => r is null ? null : (double?)Math.Round((double)iicP999 / rawP999, 4))],
        };
        iic = WithRoundProbes(iic, [.. Enumerable.Repeat(probe, rounds + 1)], [.. Enumerable.Repeat(2 * probe, rounds + 1)],
            [.. p50Ratios.Select(r => r is null ? null : iic.P50Ns)], [.. p50Ratios.Select(r => r is null ? null : iic.P99Ns)]);
        var raw = PingPong("raw-shm", api, rawP50, probe, probe) with { P999Ns = rawP999, Rounds = rounds, RoundsDropped = dropped, InterleavedWith = "iic" };
        return (iic, raw);
    }

    /// <summary>
    /// An interleaved 32 B poll-claim pair whose rounds ran on the placements their probes name, as the harness makes it:
    /// <paramref name="probeP50s"/> and <paramref name="probeP99s"/> before each round and after the last, iic's block
    /// p50 and p99 per round (null: a dropped round), the rows' probes the medians of the kept rounds' probes before and
    /// after (PairRounds.WithRounds), and iic's pooled percentiles as given (what its merged histogram would read).
    /// </summary>
    public static (BenchResult Iic, BenchResult Raw) InterleavedPollClaimRounds(long[] probeP50s, long[] probeP99s, long?[] roundP50s, long?[] roundP99s, long pooledP50, long pooledP99)
    {
        var rounds = roundP50s.Length;
        var kept = Enumerable.Range(0, rounds).Where(r => roundP50s[r] is not null).ToList();
        (long, long) MedianProbe(int offset)
            => ((long)RoundStatistics.Median([.. kept.Select(r => (double)probeP50s[r + offset])]), (long)RoundStatistics.Median([.. kept.Select(r => (double)probeP99s[r + offset])]));
        var likeForLike = Same(rounds, 1.0).Select((r, i) => roundP50s[i] is null ? null : r).ToArray();
        var row = new BenchResult { Test = "pingpong", Transport = "iic", Mode = "spin", Api = "poll-claim", Size = 32, Count = 1000, P50Ns = pooledP50, P99Ns = pooledP99, P999Ns = 2 * pooledP99 };
        var iic = Placement.WithProbes(row, MedianProbe(0), MedianProbe(1), probing: true) with
        {
            Rounds = rounds,
            RoundsDropped = rounds - kept.Count,
            InterleavedWith = "raw-shm",
            RoundRatios = likeForLike,
            RoundP99Ratios = likeForLike,
        };
        iic = WithRoundProbes(iic, [.. probeP50s.Select(p => (long?)p)], [.. probeP99s.Select(p => (long?)p)], roundP50s, roundP99s);
        var raw = Placement.WithProbes(row with { Transport = "raw-shm" }, MedianProbe(0), MedianProbe(1), probing: true) with { Rounds = rounds, RoundsDropped = rounds - kept.Count, InterleavedWith = "iic" };
        return (iic, raw);
    }

    /// <summary>
    /// The per-round probe fields of an interleaved ping-pong iic row and its ratios to them, computed as the harness
    /// does (RoundStatistics.ByRound), and its placement mark judged by its rounds (Placement.JudgedByRounds).
    /// </summary>
    private static BenchResult WithRoundProbes(BenchResult iic, long?[] probeP50s, long?[] probeP99s, long?[] roundP50s, long?[] roundP99s) => Placement.JudgedByRounds(iic with
    {
        RoundProbeNs = probeP50s,
        RoundProbeP99Ns = probeP99s,
        RoundP50Ns = roundP50s,
        RoundP99Ns = roundP99s,
        RoundProbeRatios = RoundStatistics.ByRound(roundP50s, probeP50s),
        RoundProbeP99Ratios = RoundStatistics.ByRound(roundP99s, probeP99s),
    });

    /// <summary><paramref name="count"/> rounds whose ratio is <paramref name="ratio"/>.</summary>
    public static double?[] Same(int count, double ratio) => [.. Enumerable.Repeat((double?)ratio, count)];

    public static BenchResult Channels(int channels, long p50Ns) => new()
    {
        Test = "channels",
        Transport = "iic",
        Mode = "park",
        Size = 32,
        Channels = channels,
        P50Ns = p50Ns,
    };

    /// <summary>What <see cref="TargetReport"/> prints for these rows.</summary>
    public static string Report(params BenchResult[] rows)
    {
        using var writer = new StringWriter();
        TargetReport.Print(writer, rows);
        return writer.ToString();
    }

    /// <summary>The one line of the targets table that starts with <paramref name="target"/>.</summary>
    public static string TargetLine(string target, params BenchResult[] rows)
    {
        var report = Report(rows);
        var lines = report.Split('\n').Where(l => l.StartsWith(target, StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 1, $"expected one line starting '{target}' in:\n{report}");
        return lines[0];
    }
}
