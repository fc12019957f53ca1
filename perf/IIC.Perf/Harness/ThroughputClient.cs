using System.Diagnostics;
using System.Runtime.CompilerServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The sending side of the one-way test: after a warm-up and a Mark that the receiver acknowledges (so no warm-up
/// message is still in flight), it sends stamped messages as fast as the transport takes them, then a Stop, and the
/// clock stops when the receiver's acknowledgement of the Stop arrives: the rate counts only delivered messages.
/// </summary>
internal sealed class ThroughputClient
{
    private const int MaxBatchSize = 256;
    private const int BatchBytes = 16 << 20; // large messages: batches of at most ~16 MiB, so the clock is read often enough
    private readonly IMessageEndpoint _endpoint;
    private readonly int _size;
    private readonly byte[] _send;
    private readonly byte[] _receive;
    private readonly int _batchSize;
    private long _sequence;

    private ThroughputClient(IMessageEndpoint endpoint, LinkOptions link)
    {
        _endpoint = endpoint;
        _size = link.MessageSize;
        _send = new byte[_size];
        _receive = new byte[_size];
        _batchSize = Math.Clamp(BatchBytes / _size, 1, MaxBatchSize);
        MessageStamp.Fill(_send);
    }

    public static ClientMeasurement Run(IMessageEndpoint endpoint, LinkOptions link, DriverSettings settings)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(settings);
        var client = new ThroughputClient(endpoint, link);
        var warmupEnd = Stopwatch.GetTimestamp() + Ticks(settings.WarmupS);
        do
        {
            client.SendBatch(client._batchSize);
        }
        while (Stopwatch.GetTimestamp() < warmupEnd);
        client.Control(MessageStamp.Mark);

        var target = settings.Count > 0 ? settings.Count : long.MaxValue;
        var cpuStart = CpuClock.ProcessSeconds;
        var start = Stopwatch.GetTimestamp();
        var stopAt = settings.DurationS > 0 ? start + Ticks(settings.DurationS) : long.MaxValue;
        long sent = 0;
        while (sent < target && Stopwatch.GetTimestamp() < stopAt)
        {
            var batch = (int)Math.Min(client._batchSize, target - sent);
            client.SendBatch(batch);
            sent += batch;
        }
        client.Control(MessageStamp.Stop);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = CpuClock.ProcessSeconds - cpuStart;
        return new ClientMeasurement(sent, elapsed, cpu, Latency: null, sent / elapsed);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SendBatch(int count)
    {
        var endpoint = _endpoint;
        var send = _send;
        var sequence = _sequence;
        for (var i = 0; i < count; i++)
        {
            MessageStamp.Write(send, sequence++);
            endpoint.Send(send);
        }
        _sequence = sequence;
    }

    /// <summary>Sends a control message and waits for the receiver's acknowledgement.</summary>
    private void Control(long code)
    {
        MessageStamp.Write(_send, code);
        _endpoint.Send(_send);
        var length = _endpoint.Receive(_receive);
        MessageStamp.Verify(_receive.AsSpan(0, length), _size, MessageStamp.Ack);
    }

    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);
}
