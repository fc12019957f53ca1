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

    /// <summary>
    /// Two laps of the deepest ring the harness gives a message (iic: 7 messages of 1 MiB in an 8 MiB ring, 7 of
    /// 64 MiB in 512 MiB; raw-shm: at most 4 slots of 64 KiB and up). Small messages reach it in microseconds.
    /// </summary>
    private const long MinWarmupMessages = 32;

    public static ClientMeasurement Run(IMessageEndpoint endpoint, LinkOptions link, DriverSettings settings)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(settings);
        var client = new ThroughputClient(endpoint, link);
        client.WarmUp(settings.WarmupS);

        var target = settings.Count > 0 ? settings.Count : long.MaxValue;
        var trace = MeasureTrace.Start();
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
        trace.Print($"client of {link.Test.ToName()} {SizeText.Format(link.MessageSize)}");
        return new ClientMeasurement(sent, elapsed, cpu, Latency: null, sent / elapsed) { StartTicks = start };
    }

    /// <summary>A client for measuring in blocks (<see cref="InterleavedOneWay"/>): <see cref="WarmUp"/>, then <see cref="Block"/>s, then <see cref="Stop"/>.</summary>
    public static ThroughputClient ForBlocks(IMessageEndpoint endpoint, LinkOptions link)
    {
        ArgumentNullException.ThrowIfNull(link);
        return new ThroughputClient(endpoint, link);
    }

    /// <summary>
    /// Warm-up: the time given AND two laps of the ring, so the row measures the steady state; then a Mark that the
    /// receiver acknowledges (no warm-up message is still in flight, and its counters and CPU clock start). A window's
    /// memory is committed as it is first used (windows are not pre-faulted), so the first lap through a large ring
    /// pays a page fault per page on both sides: 131 k of them in the 64 MiB row's 512 MiB ring, which a time-only
    /// warm-up of 0.25 s covered only in part (that row read 37 MB/s instead of ~5 GB/s).
    /// </summary>
    public void WarmUp(double seconds)
    {
        var warmupEnd = Stopwatch.GetTimestamp() + Ticks(seconds);
        long warmupSent = 0;
        do
        {
            SendBatch(_batchSize);
            warmupSent += _batchSize;
        }
        while (Stopwatch.GetTimestamp() < warmupEnd || warmupSent < MinWarmupMessages);
        Control(MessageStamp.Mark);
    }

    /// <summary>
    /// Tells the receiver that this side pauses: it stops its CPU clock, acknowledges, and sleeps
    /// <paramref name="receiverSleepUs"/> µs (while another transport measures) instead of spinning beside it.
    /// </summary>
    public void Pause(long receiverSleepUs) => Control(MessageStamp.Lap(receiverSleepUs));

    /// <summary>
    /// One block of an interleaved measurement: a Resume (acknowledged once the receiver is awake and its CPU clock
    /// runs), messages for <paramref name="seconds"/>, then a Lap whose acknowledgement stops the clock (so the block
    /// counts only delivered messages) and after which the receiver sleeps <paramref name="receiverSleepUs"/> µs.
    /// </summary>
    /// <returns>Messages sent (all verified by the receiver), seconds from the first send to the Lap's acknowledgement, and this process's CPU seconds over the block.</returns>
    public (long Sent, double ElapsedS, double CpuS) Block(double seconds, long receiverSleepUs)
    {
        Control(MessageStamp.Resume);
        var cpuStart = CpuClock.ProcessSeconds;
        var start = Stopwatch.GetTimestamp();
        var stopAt = start + Ticks(seconds);
        long sent = 0;
        while (Stopwatch.GetTimestamp() < stopAt)
        {
            SendBatch(_batchSize);
            sent += _batchSize;
        }
        Control(MessageStamp.Lap(receiverSleepUs));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (sent, elapsed, CpuClock.ProcessSeconds - cpuStart);
    }

    /// <summary>Ends the run: a Stop, acknowledged; the receiver then reports.</summary>
    public void Stop() => Control(MessageStamp.Stop);

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
