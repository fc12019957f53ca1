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

    /// <summary>The idle-gap test ends with this long a quiet phase, to measure what a waiting receiver burns.</summary>
    public const double IdleS = 1.0;

    public IReadOnlyList<BenchTest> Tests { get; init; } = [BenchTest.PingPong, BenchTest.Throughput, BenchTest.IdleGap];

    /// <summary>Measure memcpy bandwidth (1 MiB) beside the throughput table.</summary>
    public bool Memcpy { get; init; } = true;

    /// <summary>Transport names to run; null for all.</summary>
    public IReadOnlyList<string>? Transports { get; init; }

    public IReadOnlyList<int> Sizes { get; init; } = [32, 4096];

    /// <summary>Whether --sizes was given (otherwise the idle-gap test uses only the smallest size).</summary>
    public bool SizesGiven { get; init; }

    public IReadOnlyList<string> Modes { get; init; } = WaitModes.Selectable;

    public IReadOnlyList<ReceiveApi> Apis { get; init; } = [ReceiveApi.Poll, ReceiveApi.Receive, ReceiveApi.PollClaim];

    /// <summary>Round trips or messages per measurement; 0 for no count limit.</summary>
    public long Count { get; init; }

    /// <summary>Seconds per measurement, when given; see <see cref="DurationFor"/>.</summary>
    public double? DurationS { get; init; }

    public double WarmupS { get; init; } = DefaultWarmupS;

    public bool Pin { get; init; }

    public string? JsonPath { get; init; }

    public string? PngPath { get; init; }

    /// <summary>With --count and no --duration: the most a measurement may take before it is called hung.</summary>
    public double TimeoutS { get; init; } = 120;

    public bool ShowHelp { get; init; }

    public bool ListTransports { get; init; }

    /// <summary>Seconds to measure for <paramref name="test"/>: --duration, else 0 with --count (count decides), else the default.</summary>
    public double DurationFor(BenchTest test) => DurationS ?? (Count > 0 ? 0 : test == BenchTest.IdleGap ? DefaultIdleGapDurationS : DefaultDurationS);
}
