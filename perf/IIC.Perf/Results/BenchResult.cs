using System.Text.Json.Serialization;

namespace IIC.Perf.Results;

/// <summary>
/// One row of the results: a measurement, or a transport that could not run here and why. Serialized in snake_case
/// as issue 6's schema names them (test, transport, mode, size, count, p50_ns ... max_ns, msgs_per_s, bytes_per_s,
/// cpu_s); the other fields are additions.
/// </summary>
internal sealed record BenchResult
{
    public const string Ok = "ok";
    public const string Unavailable = "unavailable";
    public const string Failed = "failed";

    public required string Test { get; init; }

    public required string Transport { get; init; }

    public required string Mode { get; init; }

    /// <summary>Where the processes ran: "none" (this machine's namespaces) or "namespaces" (each in its own user, pid, network, mount and IPC namespaces).</summary>
    public string Isolation { get; init; } = Perf.Isolation.IsolationKind.None;

    /// <summary>How the receiver took messages: throughput and sizes "poll" (in place) or "receive" (copy out); ping-pong "receive" or "poll-claim" (zero copy both ways).</summary>
    public string? Api { get; init; }

    public required int Size { get; init; }

    /// <summary>Channels test: open channels between the two processes (one server thread waits on all of them).</summary>
    public int? Channels { get; init; }

    /// <summary>Fan-in test: sending processes into the one receiving thread.</summary>
    public int? Senders { get; init; }

    public long? Count { get; init; }

    public long? P50Ns { get; init; }

    public long? P90Ns { get; init; }

    public long? P99Ns { get; init; }

    public long? P999Ns { get; init; }

    public long? MaxNs { get; init; }

    public long? MeanNs { get; init; }

    public long? MsgsPerS { get; init; }

    public long? BytesPerS { get; init; }

    /// <summary>CPU seconds both sides used during the measured phase (client + server).</summary>
    public double? CpuS { get; init; }

    public double? CpuClientS { get; init; }

    public double? CpuServerS { get; init; }

    public double? ElapsedS { get; init; }

    /// <summary>Idle gap: the percentage of one CPU the server used while the client stayed quiet (0.5 s since round 13, 1 s before).</summary>
    public double? IdleCpuPct { get; init; }

    /// <summary>The placement probe's p50 (a 0-byte raw cross-process round trip, ns) just before this row.</summary>
    public long? ProbeNsBefore { get; init; }

    /// <summary>The placement probe's p50 just after this row.</summary>
    public long? ProbeNsAfter { get; init; }

    /// <summary>The probe's p99 before and after.</summary>
    public long? ProbeP99NsBefore { get; init; }

    public long? ProbeP99NsAfter { get; init; }

    /// <summary>True when the probe moved during the row (the host changed the CPUs' placement): compare it with nothing.</summary>
    public bool? ProbeMoved { get; init; }

    /// <summary>Channels test: rounds run (every N measured in each, interleaved, between two placement probes); interleaved one-way and ping-pong rows: rounds of one block per row.</summary>
    public int? Rounds { get; init; }

    /// <summary>Channels test, interleaved one-way and ping-pong rows: rounds dropped because their placement probe moved (dropped for every row alike).</summary>
    public int? RoundsDropped { get; init; }

    /// <summary>
    /// Interleaved spinning 32 B ping-pong rows (round 22): how many kept rounds' blocks have a p50 outside 0.7-2.5x of
    /// the probe before their round (<see cref="Placement.Rounds"/>). Up to 4 of 10 are left out of the pair's
    /// ratios and the row stays compared; with more the row is marked (<see cref="ProbeMoved"/>) and they are counted.
    /// </summary>
    public int? RoundsFlipped { get; init; }

    /// <summary>
    /// Channels test: each round's wake-up p50 (ns), null for a dropped round; rows of one run pair by index. Interleaved
    /// ping-pong rows (round 19): each round's block's round-trip p50 (ns), null for a dropped round.
    /// </summary>
    public IReadOnlyList<long?>? RoundP50Ns { get; init; }

    /// <summary>Interleaved ping-pong rows (round 19): each round's block's round-trip p99 (ns), null for a dropped round.</summary>
    public IReadOnlyList<long?>? RoundP99Ns { get; init; }

    /// <summary>Interleaved ping-pong rows (round 21): each round's block's round-trip p99.9 (ns), null for a dropped round.</summary>
    public IReadOnlyList<long?>? RoundP999Ns { get; init; }

    /// <summary>Channels test: the share of kept round trips whose send found the server asleep (the rest are not wake-ups and not in the latencies).</summary>
    public double? WokenPct { get; init; }

    /// <summary>
    /// Channels test: this row's pooled wake-up p50 over the fewest-channels row's, both pooled over the same kept
    /// rounds, and its 95 % interval (a paired bootstrap over rounds): the flatness verdict.
    /// </summary>
    public double? P50RatioToFewest { get; init; }

    public double? P50RatioLow { get; init; }

    public double? P50RatioHigh { get; init; }

    /// <summary>
    /// Interleaved one-way rows (round 13): each round's rate (msgs/s) of this row's block, null for a dropped round;
    /// the two rows of a pair share their rounds (and <see cref="Rounds"/>, <see cref="RoundsDropped"/>).
    /// </summary>
    public IReadOnlyList<long?>? RoundMsgsPerS { get; init; }

    /// <summary>Interleaved one-way and ping-pong rows: the transport whose row was measured in the same rounds, block by block.</summary>
    public string? InterleavedWith { get; init; }

    /// <summary>
    /// Interleaved one-way rows, on the first row of a pair (iic): each round's rate over the other row's in the same
    /// round (null for a dropped round), and their median over the kept rounds: the ratio the one-way target judges.
    /// Interleaved ping-pong rows (round 19): each round's p50 over the other row's p50 in the same round.
    /// </summary>
    public IReadOnlyList<double?>? RoundRatios { get; init; }

    public double? RoundRatioMedian { get; init; }

    /// <summary>Interleaved ping-pong rows, on the first row of a pair (iic): each round's p99 over the other row's p99 in the same round (null for a dropped round), and their median over the kept rounds.</summary>
    public IReadOnlyList<double?>? RoundP99Ratios { get; init; }

    public double? RoundP99RatioMedian { get; init; }

    /// <summary>
    /// Interleaved ping-pong rows, on the first row of a pair (iic; round 21): each round's p99.9 over the other row's
    /// p99.9 in the same round (null for a dropped round), and their median over the kept rounds: the p99.9 target
    /// judges these, not the rows pooled over all kept rounds (which mixes placements when the rounds do).
    /// </summary>
    public IReadOnlyList<double?>? RoundP999Ratios { get; init; }

    public double? RoundP999RatioMedian { get; init; }

    /// <summary>
    /// Polling one-way rows (round 14): messages the receiver's polls handed out per poll over the measured phase. A
    /// few (2-16) means the receiver kept up with its writer and polled the line being written; hundreds, that it
    /// drained a backlog: the sink's two regimes (perf/IIC.Perf/README.md, "throughput").
    /// </summary>
    public double? MsgsPerPoll { get; init; }

    /// <summary>Interleaved polling one-way rows: <see cref="MsgsPerPoll"/> of each round's block, null for a dropped round.</summary>
    public IReadOnlyList<double?>? RoundMsgsPerPoll { get; init; }

    /// <summary>
    /// Interleaved one-way rows (round 16): the placement probe's p50 (ns) before each round and after the last, so
    /// one more than <see cref="Rounds"/>; null where the probe did not answer. It names each round's placement
    /// (<see cref="Placement.RoundKinds"/>), and the target gives each placement's rounds apart.
    /// </summary>
    public IReadOnlyList<long?>? RoundProbeNs { get; init; }

    /// <summary>Interleaved rows (round 20): the placement probe's p99 (ns) before each round and after the last, as <see cref="RoundProbeNs"/>.</summary>
    public IReadOnlyList<long?>? RoundProbeP99Ns { get; init; }

    /// <summary>
    /// Interleaved ping-pong rows, on the first row of a pair (iic; round 20): each kept round's p50 over the probe's
    /// p50 before that round (null for a dropped round or a probe that did not answer). The targets against the probe
    /// judge these, so each ratio divides a block by the probe of its own placement.
    /// </summary>
    public IReadOnlyList<double?>? RoundProbeRatios { get; init; }

    /// <summary>As <see cref="RoundProbeRatios"/>, for each kept round's p99 over the probe's p99 before that round.</summary>
    public IReadOnlyList<double?>? RoundProbeP99Ratios { get; init; }

    public string Status { get; init; } = Ok;

    /// <summary>Why a row is unavailable or failed.</summary>
    public string? Reason { get; init; }

    /// <summary>The latency distribution the chart draws (ping-pong and idle gap).</summary>
    public IReadOnlyList<PercentilePoint>? Curve { get; init; }

    [JsonIgnore]
    public bool IsOk => Status == Ok;

    /// <summary>The row's placement probe (mean of before and after, ns), or null when it was not probed or the probe moved.</summary>
    [JsonIgnore]
    public double? Placement => ProbeMoved == false && ProbeNsBefore is { } before && ProbeNsAfter is { } after ? (before + after) / 2.0 : null;

    /// <summary>This row with <paramref name="latency"/>'s percentiles, mean and curve.</summary>
    public BenchResult WithLatency(LatencySummary latency) => this with
    {
        P50Ns = latency.P50Ns,
        P90Ns = latency.P90Ns,
        P99Ns = latency.P99Ns,
        P999Ns = latency.P999Ns,
        MaxNs = latency.MaxNs,
        MeanNs = latency.MeanNs,
        Curve = latency.Curve,
    };
}
