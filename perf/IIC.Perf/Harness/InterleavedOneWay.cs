using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// Two one-way rows measured in interleaved same-probe rounds (issue 17: "32 B poll at least 80 % of raw-shm"; the
/// rounds themselves are <see cref="InterleavedPair"/>'s). Each kept round gives a ratio (first side's rate over the
/// second's, taken blocks apart by tens of milliseconds, where the host flips placements every few seconds); the first
/// row carries them and their median, which <see cref="TargetReport"/> judges with a bootstrap interval. The rows'
/// rates pool the kept blocks (messages over seconds). While one side measures, the other side's receiver sleeps (a Lap
/// tells it how long) instead of spinning on an empty ring beside it; its CPU clock stops meanwhile. Every message is
/// still verified, and the clock of a block stops at the receiver's acknowledgement of the Lap that follows it.
/// <c>IIC_PERF_ONEWAY_INTERLEAVED=0</c> measures the rows one after the other, as before round 13.
/// </summary>
internal static class InterleavedOneWay
{
    /// <summary>Whether the main job measures the 32 B one-way iic and raw-shm rows interleaved (<c>IIC_PERF_ONEWAY_INTERLEAVED</c> is not 0).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("IIC_PERF_ONEWAY_INTERLEAVED") != "0";

    /// <summary>Measures <paramref name="first"/> and <paramref name="second"/> (same test, size, mode and API) interleaved; returns their two rows.</summary>
    public static IReadOnlyList<BenchResult> Run(MeasurementPlan first, MeasurementPlan second, PlacementProbe? probe, bool pin, double? reusedWarmupS)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return InterleavedPair.Run(first, second, probe, pin, reusedWarmupS, new Rates(first, second));
    }

    /// <summary>One-way rates by round: each side's messages and seconds per block.</summary>
    private sealed class Rates(MeasurementPlan first, MeasurementPlan second) : IInterleavedKind
    {
        private readonly Side[] _sides = new Side[2];

        public IBlockClient Client(int side, IMessageEndpoint endpoint)
            => _sides[side] = new Side(ThroughputClient.ForBlocks(endpoint, (side == 0 ? first : second).Link));

        public void RoundEnded(int round, bool kept)
        {
        }

        public string RoundText(int round)
            => $"{first.Transport.Name} {Units.Rate((long)_sides[0].Rate(round))} / {second.Transport.Name} {Units.Rate((long)_sides[1].Rate(round))} msgs/s = {100.0 * _sides[0].Rate(round) / _sides[1].Rate(round):0} %";

        public IReadOnlyList<BenchResult> Rows(PairRounds rounds)
        {
            if (rounds.Reports[0].BlockMsgsPerPoll is { } perPoll0 && rounds.Reports[1].BlockMsgsPerPoll is { } perPoll1)
            {
                Console.Error.WriteLine($"    {first.Link.Test.ToName()} {first.Link.Api.ToName()} messages per poll by round: {first.Transport.Name} {string.Join(' ', perPoll0)} / {second.Transport.Name} {string.Join(' ', perPoll1)}");
            }
            var rows = new BenchResult[2];
            for (var side = 0; side < 2; side++)
            {
                var mine = _sides[side];
                var report = rounds.Reports[side];
                rows[side] = rounds.PooledRow(side, mine.Sent, mine.ElapsedS, mine.CpuS, latency: null, row => row with
                {
                    RoundMsgsPerS = rounds.PerKeptRound(r => (long)mine.Rate(r)),
                    RoundMsgsPerPoll = report.BlockMsgsPerPoll is { } perPoll && perPoll.Count == rounds.Count ? rounds.PerKeptRound(r => perPoll[r]) : null,
                });
            }
            var (ratios, median) = rounds.Ratios((side, r) => _sides[side].Rate(r));
            rows[0] = rows[0] with { RoundRatios = ratios, RoundRatioMedian = median };
            return rows;
        }
    }

    /// <summary>One side's blocks: messages sent (all verified by the receiver), seconds, and this process's CPU.</summary>
    private sealed class Side(ThroughputClient client) : IBlockClient
    {
        public long[] Sent { get; } = new long[InterleavedPair.Rounds];

        public double[] ElapsedS { get; } = new double[InterleavedPair.Rounds];

        public double CpuS { get; private set; }

        public double Rate(int round) => Sent[round] / ElapsedS[round];

        public void WarmUp(double seconds) => client.WarmUp(seconds);

        public void Pause(long serverSleepUs) => client.Pause(serverSleepUs);

        public void Block(int round, double seconds, long serverSleepUs)
        {
            var (sent, elapsed, cpu) = client.Block(seconds, serverSleepUs);
            Sent[round] = sent;
            ElapsedS[round] = elapsed;
            CpuS += cpu;
        }

        public void Stop() => client.Stop();
    }
}
