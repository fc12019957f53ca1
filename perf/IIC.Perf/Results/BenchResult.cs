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

    /// <summary>Throughput only: how the receiver took messages ("poll" in place, or "receive" copying out).</summary>
    public string? Api { get; init; }

    public required int Size { get; init; }

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

    /// <summary>Idle gap: the percentage of one CPU the server used while the client stayed quiet for a second.</summary>
    public double? IdleCpuPct { get; init; }

    public string Status { get; init; } = Ok;

    /// <summary>Why a row is unavailable or failed.</summary>
    public string? Reason { get; init; }

    /// <summary>The latency distribution the chart draws (ping-pong and idle gap).</summary>
    public IReadOnlyList<PercentilePoint>? Curve { get; init; }

    [JsonIgnore]
    public bool IsOk => Status == Ok;
}
