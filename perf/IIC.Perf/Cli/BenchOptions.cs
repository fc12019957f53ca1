using IIC.Perf.Core;

namespace IIC.Perf.Cli;

/// <summary>What to measure and where to write it; the defaults are the one-minute default run.</summary>
internal sealed record BenchOptions
{
    /// <summary>Ping-pong and throughput measure this long by default (seconds).</summary>
    public const double DefaultDurationS = 0.5;

    /// <summary>The idle-gap test needs more time per sample (a pause before each round trip).</summary>
    public const double DefaultIdleGapDurationS = 0.75;

    public const double DefaultWarmupS = 0.25;

    public const double GapMinUs = 10;

    public const double GapMaxUs = 1000;

    /// <summary>
    /// The idle-gap test ends with this long a quiet phase, to measure what a waiting receiver burns (a share of a CPU,
    /// from getrusage's microseconds). 1 s before round 13; half a second, as the channels test's idle phase
    /// (<see cref="ScaleIdleS"/>), whose idle CPU is the one issue 17 judges.
    /// </summary>
    public const double DefaultIdleS = 0.5;

    /// <summary>Every test, in the order of the default run.</summary>
    public static IReadOnlyList<BenchTest> AllTests { get; } =
        [BenchTest.PingPong, BenchTest.Throughput, BenchTest.IdleGap, BenchTest.Channels, BenchTest.FanIn, BenchTest.Connect, BenchTest.Sizes];

    public IReadOnlyList<BenchTest> Tests { get; init; } = AllTests;

    /// <summary>--quick: a smoke run that proves every row works (short phases, fewer points); its numbers mean little.</summary>
    public bool Quick { get; init; }

    /// <summary>The idle-gap test's quiet phase (seconds).</summary>
    public double IdleS { get; init; } = DefaultIdleS;

    /// <summary>Seconds each point of the scaling tests (channels, fanin, connect, sizes) measures.</summary>
    public double ScaleDurationS { get; init; } = 0.3;

    /// <summary>The channels test's quiet phase per point (seconds).</summary>
    public double ScaleIdleS { get; init; } = 0.5;

    /// <summary>The sizes test's message sizes (8 B, the smallest stamped message, to 64 MiB).</summary>
    public IReadOnlyList<int> ScaleSizes { get; init; } = [8, 256, 4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20];

    /// <summary>The channels test's numbers of open channels.</summary>
    public IReadOnlyList<int> ChannelCounts { get; init; } = [1, 10, 100, 1000];

    /// <summary>The channels test's rounds: each measures every N for <see cref="ChannelBlockS"/>, between two placement probes.</summary>
    public int ChannelRounds { get; init; } = 12;

    /// <summary>
    /// Seconds each N measures per round of the channels test (~1,000 wake-ups on this VM): short, so that a round
    /// (every N in turn) usually fits between two placement flaps of the host.
    /// </summary>
    public double ChannelBlockS { get; init; } = 0.15;

    /// <summary>The channels test spreads its round trips over all N channels instead of using one (--channels-spread).</summary>
    public bool ChannelsSpread { get; init; }

    /// <summary>The fan-in test's numbers of sending processes.</summary>
    public IReadOnlyList<int> FanInSenders { get; init; } = [1, 2, 4, 8, 16];

    /// <summary>Measure memcpy bandwidth (1 MiB) beside the throughput table.</summary>
    public bool Memcpy { get; init; } = true;

    /// <summary>Transport names to run; null for all.</summary>
    public IReadOnlyList<string>? Transports { get; init; }

    public IReadOnlyList<int> Sizes { get; init; } = [32, 4096];

    /// <summary>Whether --sizes was given (otherwise the idle-gap test uses only the smallest size).</summary>
    public bool SizesGiven { get; init; }

    public IReadOnlyList<string> Modes { get; init; } = WaitModes.Selectable;

    public IReadOnlyList<ReceiveApi> Apis { get; init; } = [ReceiveApi.Poll, ReceiveApi.Receive, ReceiveApi.PollClaim, ReceiveApi.SendAndReceive];

    /// <summary>Round trips or messages per measurement; 0 for no count limit.</summary>
    public long Count { get; init; }

    /// <summary>Seconds per measurement, when given; see <see cref="DurationFor"/>.</summary>
    public double? DurationS { get; init; }

    public double WarmupS { get; init; } = DefaultWarmupS;

    /// <summary>Whether --warmup was given (then every row warms up that long, reused child or not).</summary>
    public bool WarmupGiven { get; init; }

    /// <summary>
    /// The default warm-up of a row whose server child is reused (already started and JIT-compiled by an earlier row,
    /// Harness/ChildPool.cs): what is left to warm is this connection's lines and pages, which the warm-up's minimum
    /// (2000 round trips, two laps of the ring) covers on its own. <c>IIC_PERF_REUSED_WARMUP_S</c> sets it (0.25: as
    /// a fresh child's).
    /// </summary>
    public const double DefaultReusedWarmupS = 0.1;

    public bool Pin { get; init; }

    /// <summary>
    /// Whether the 32 B ping-pong rows of iic (spin) and raw-shm are measured in interleaved rounds, one pair per echo API
    /// (round 19, Harness/InterleavedPingPong.cs); <c>IIC_PERF_PINGPONG_INTERLEAVED=0</c> measures them one after the other.
    /// </summary>
    public bool PingPongInterleaved { get; init; } = Harness.InterleavedPingPong.Enabled;

    /// <summary>--isolation: none, namespaces or all (the default: both row sets).</summary>
    public string Isolation { get; init; } = Perf.Isolation.IsolationKind.All;

    public string? JsonPath { get; init; }

    public string? PngPath { get; init; }

    /// <summary>With --count and no --duration: the most a measurement may take before it is called hung.</summary>
    public double TimeoutS { get; init; } = 120;

    public bool ShowHelp { get; init; }

    public bool ListTransports { get; init; }

    /// <summary>
    /// Seconds the scale rows measure: each kind of the connect row, each fan-in row, and each transport (and memcpy) of
    /// a sizes row. --duration when given, as every ping-pong row; else <see cref="ScaleDurationS"/>, their share of the
    /// default run. --count does not apply (a cycle is not a round trip, and these rows count no round trips; each
    /// measures at least its minimum anyway). Before round 24 the connect row was always <see cref="ScaleDurationS"/>
    /// (--duration 5 still measured 0.3 s of cycles), and before round 25 the fan-in and sizes rows still were.
    /// </summary>
    public double ScaleRowDurationS => DurationS ?? ScaleDurationS;

    /// <summary>Seconds to measure for <paramref name="test"/>: --duration, else 0 with --count (count decides), else the default.</summary>
    public double DurationFor(BenchTest test) => DurationS ?? (Count > 0 ? 0 : test == BenchTest.IdleGap ? DefaultIdleGapDurationS : DefaultDurationS);
}
