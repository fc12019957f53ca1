namespace IIC.Perf.Results;

/// <summary>What the client side of one measurement saw (from this process, or reported by a client child).</summary>
/// <param name="Count">Round trips timed, or messages sent in the measured phase.</param>
/// <param name="ElapsedS">Length of the measured phase.</param>
/// <param name="CpuS">CPU time the client's process used during the measured phase.</param>
/// <param name="Latency">Round-trip latency (ping-pong, idle gap).</param>
/// <param name="MessagesPerSecond">One-way rate (throughput), up to the receiver's acknowledgement of the last message.</param>
internal sealed record ClientMeasurement(long Count, double ElapsedS, double CpuS, LatencySummary? Latency, double MessagesPerSecond);
