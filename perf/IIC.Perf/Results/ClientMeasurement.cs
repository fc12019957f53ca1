using System.Diagnostics;

namespace IIC.Perf.Results;

/// <summary>What the client side of one measurement saw (from this process, or reported by a client child).</summary>
/// <param name="Count">Round trips timed, or messages sent in the measured phase.</param>
/// <param name="ElapsedS">Length of the measured phase.</param>
/// <param name="CpuS">CPU time the client's process used during the measured phase.</param>
/// <param name="Latency">Round-trip latency (ping-pong, idle gap).</param>
/// <param name="MessagesPerSecond">One-way rate (throughput): messages over <paramref name="ElapsedS"/>.</param>
internal sealed record ClientMeasurement(long Count, double ElapsedS, double CpuS, LatencySummary? Latency, double MessagesPerSecond)
{
    /// <summary>
    /// One-way rows: the Stopwatch timestamp (CLOCK_MONOTONIC, the same clock in every process of the machine) at which
    /// the client started its first measured send; the clock stops where the receiver took the Stop (<see cref="EndedAt"/>).
    /// </summary>
    public long? StartTicks { get; init; }

    /// <summary>
    /// This one-way measurement with its clock stopped at <paramref name="stopSeenTicks"/>, the timestamp at which the
    /// receiver took the Stop that follows the last measured message (every counted message was verified by then), instead
    /// of at the client's receipt of the Stop's acknowledgement (round 14). That acknowledgement is a full-size message the
    /// receiver writes and the client copies out and verifies: at 64 MiB about three message times of the row's ~30, and
    /// for iic into reverse-ring pages nothing had touched yet (page faults); it is not delivered data. Unchanged when
    /// either timestamp is missing, or the receiver's does not fall inside the client's measured phase (a sanity bound).
    /// </summary>
    public ClientMeasurement EndedAt(long? stopSeenTicks)
    {
        if (Latency is not null || StartTicks is not { } start || stopSeenTicks is not { } stop || Count <= 0)
        {
            return this;
        }
        var elapsed = (double)(stop - start) / Stopwatch.Frequency;
        return elapsed > 0 && elapsed <= ElapsedS ? this with { ElapsedS = elapsed, MessagesPerSecond = Count / elapsed } : this;
    }
}
