using HdrHistogram;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The 32 B ping-pong rows of iic and raw-shm (one echo API: receive or poll-claim) measured in interleaved same-probe
/// rounds (round 19; the rounds are <see cref="InterleavedPair"/>'s): issue 17's round-trip targets compare them "in the
/// same run, same placement", and measured one after the other their probes often differed (round 18: "not
/// comparable") or their verdicts flipped from run to run. Each side's block records its round trips into a histogram
/// of its own; a kept round gives two ratios, iic's p50 over raw-shm's and iic's p99 over raw-shm's, which the first
/// row carries with their medians (<see cref="TargetReport"/> judges them with a bootstrap interval), and two more, iic's
/// p50 and p99 over the probe's taken just before the round, which the targets against the probe judge (round 20), and
/// iic's p99.9 over raw-shm's, which the p99.9 target judges (round 21: it divided the rows pooled over all kept rounds,
/// which mixes placements when the rounds do; a 50 ms block's 100-300 K round trips leave 100 or more above its p99.9). The
/// rows' percentiles pool the kept rounds' round trips (their histograms merged). While one side measures, the other
/// side's echo server sleeps (the Lap that ends its block says how long). <c>IIC_PERF_PINGPONG_INTERLEAVED=0</c>
/// measures the rows one after the other, as before round 19.
/// </summary>
internal static class InterleavedPingPong
{
    /// <summary>Whether the main job measures the 32 B ping-pong iic and raw-shm rows interleaved (<c>IIC_PERF_PINGPONG_INTERLEAVED</c> is not 0): the default of <see cref="Cli.BenchOptions.PingPongInterleaved"/>.</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("IIC_PERF_PINGPONG_INTERLEAVED") != "0";

    /// <summary>Measures <paramref name="first"/> and <paramref name="second"/> (32 B ping-pong, same mode and API) interleaved; returns their two rows.</summary>
    public static IReadOnlyList<BenchResult> Run(MeasurementPlan first, MeasurementPlan second, PlacementProbe? probe, bool pin, double? reusedWarmupS)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return InterleavedPair.Run(first, second, probe, pin, reusedWarmupS, new Latencies(first, second));
    }

    /// <summary>Round-trip latencies by round: each side's p50 and p99 per block, and its histograms pooled.</summary>
    private sealed class Latencies(MeasurementPlan first, MeasurementPlan second) : IInterleavedKind
    {
        private readonly Side[] _sides = new Side[2];

        public IBlockClient Client(int side, IMessageEndpoint endpoint)
            => _sides[side] = new Side(PingPongClient.ForBlocks(endpoint, (side == 0 ? first : second).Link));

        public void RoundEnded(int round, bool kept)
        {
            // Nothing to do: each round's histogram stays until the rows are made, when it is known which rounds flipped.
        }

        public string RoundText(int round)
            => $"{first.Transport.Name} p50 {Ns(_sides[0].P50Ticks[round])} p99 {Ns(_sides[0].P99Ticks[round])} / {second.Transport.Name} p50 {Ns(_sides[1].P50Ticks[round])} p99 {Ns(_sides[1].P99Ticks[round])} ns = {(double)_sides[0].P50Ticks[round] / _sides[1].P50Ticks[round]:0.00}x at p50";

        public IReadOnlyList<BenchResult> Rows(PairRounds rounds)
        {
            var rows = new BenchResult[2];
            for (var side = 0; side < 2; side++)
            {
                var mine = _sides[side];
                // The blocks' p50s first: the row's placement mark is judged from them, round by round (round 21).
                BenchResult PerRound(BenchResult row) => row with
                {
                    RoundP50Ns = rounds.PerKeptRound(r => Ns(mine.P50Ticks[r])),
                    RoundP99Ns = rounds.PerKeptRound(r => Ns(mine.P99Ticks[r])),
                    RoundP999Ns = rounds.PerKeptRound(r => Ns(mine.P999Ticks[r])),
                };
                rows[side] = rounds.PooledRow(side, mine.Count, mine.ElapsedS, mine.CpuS, LatencySummary.FromTicks(mine.Pool(rounds.Pooled)), PerRound);
                // Round 22: the pooled figures leave out the rounds the row's target lines leave out (flipped blocks), so
                // the row's percentiles and its "p50 vs" column describe the rounds it is judged by.
                var pooled = Placement.PooledRounds(rows[side], rounds.KeptRounds, rounds.Count);
                if (pooled.Count != rounds.Pooled.Count)
                {
                    rows[side] = rounds.PooledRow(side, mine.Count, mine.ElapsedS, mine.CpuS, LatencySummary.FromTicks(mine.Pool(pooled)), PerRound, pooled);
                }
            }
            var (p50Ratios, p50Median) = rounds.Ratios((side, r) => _sides[side].P50Ticks[r]);
            var (p99Ratios, p99Median) = rounds.Ratios((side, r) => _sides[side].P99Ticks[r]);
            var (p999Ratios, p999Median) = rounds.Ratios((side, r) => _sides[side].P999Ticks[r]);
            rows[0] = rows[0] with
            {
                RoundRatios = p50Ratios,
                RoundRatioMedian = p50Median,
                RoundP99Ratios = p99Ratios,
                RoundP99RatioMedian = p99Median,
                RoundP999Ratios = p999Ratios,
                RoundP999RatioMedian = p999Median,
            };
            // The targets against the probe divide each kept round by the probe before it (round 20): the rows' own
            // probes are medians over the kept rounds, which on a run spanning two placements belong to neither.
            if (rows[0] is { RoundProbeNs: { } probeP50s, RoundProbeP99Ns: { } probeP99s, RoundP50Ns: { } p50s, RoundP99Ns: { } p99s })
            {
                rows[0] = rows[0] with { RoundProbeRatios = RoundStatistics.ByRound(p50s, probeP50s), RoundProbeP99Ratios = RoundStatistics.ByRound(p99s, probeP99s) };
            }
            return rows;
        }

        private static long Ns(long ticks) => LatencySummary.ToNs(ticks);
    }

    /// <summary>One side's blocks: each round's histogram (kept until the rows are made, then pooled over the rounds they take), p50, p99, count and seconds.</summary>
    private sealed class Side(IRoundTripBlocks client) : IBlockClient
    {
        // Allocated before the warm-up: nothing of the size of a histogram (~200 KB) is allocated between blocks.
        private readonly LongHistogram[] _rounds = [.. Enumerable.Range(0, InterleavedPair.Rounds).Select(_ => LatencySummary.NewTickHistogram())];

        public long[] P50Ticks { get; } = new long[InterleavedPair.Rounds];

        public long[] P99Ticks { get; } = new long[InterleavedPair.Rounds];

        public long[] P999Ticks { get; } = new long[InterleavedPair.Rounds];

        public long[] Count { get; } = new long[InterleavedPair.Rounds];

        public double[] ElapsedS { get; } = new double[InterleavedPair.Rounds];

        public double CpuS { get; private set; }

        public void WarmUp(double seconds) => client.WarmUp(seconds);

        public void Pause(long serverSleepUs) => client.Control(MessageStamp.Lap(serverSleepUs));

        public void Block(int round, double seconds, long serverSleepUs)
        {
            client.Control(MessageStamp.Resume);
            var histogram = _rounds[round];
            var (count, elapsed, cpu) = client.Block(seconds, histogram);
            client.Control(MessageStamp.Lap(serverSleepUs));
            Count[round] = count;
            ElapsedS[round] = elapsed;
            CpuS += cpu;
            P50Ticks[round] = histogram.GetValueAtPercentile(50);
            P99Ticks[round] = histogram.GetValueAtPercentile(99);
            P999Ticks[round] = histogram.GetValueAtPercentile(99.9);
        }

        /// <summary>The round trips of <paramref name="rounds"/>, in one histogram (made once the rounds are over).</summary>
        public LongHistogram Pool(IReadOnlyList<int> rounds)
        {
            var pooled = LatencySummary.NewTickHistogram();
            foreach (var r in rounds)
            {
                pooled.Add(_rounds[r]);
            }
            return pooled;
        }

        public void Stop() => client.Control(MessageStamp.Stop);
    }
}
