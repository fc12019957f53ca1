namespace IIC.Perf.Results;

/// <summary>What the server child reports at the end: messages it handled and CPU it used during the measured phase.</summary>
/// <param name="Messages">Messages handled in the measured phase.</param>
/// <param name="CpuS">CPU seconds used in the measured phase.</param>
/// <param name="IdleCpuFraction">When the client had an idle phase: the share of one CPU the server used while waiting through it.</param>
internal sealed record ServerReport(long Messages, double CpuS, double? IdleCpuFraction = null)
{
    /// <summary>Polling one-way sinks: messages handed out per poll over the measured phase (the Mark's and Stop's polls included).</summary>
    public double? MsgsPerPoll { get; init; }

    /// <summary>Polling one-way sinks in interleaved rounds: messages per poll over each block (Resume to Lap), in order.</summary>
    public IReadOnlyList<double>? BlockMsgsPerPoll { get; init; }

    /// <summary>One-way sinks: when the sink took the Stop (a Stopwatch timestamp, CLOCK_MONOTONIC), before reading it through or acknowledging it.</summary>
    public long? StopSeenTicks { get; init; }
}
