using System.Diagnostics;
using System.Runtime.CompilerServices;
using HdrHistogram;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The measuring side of ping-pong and idle gap: stamp, timestamp, send, receive the echo, timestamp, verify,
/// record. One Stopwatch.GetTimestamp pair per round trip; nothing allocated in the loop, which runs in short
/// batches between checks of the clock and the count.
/// </summary>
internal sealed partial class PingPongClient
{
    private const int BatchSize = 32;
    private const int MinWarmupRoundTrips = 2000;
    private const int GapTableSize = 4096; // power of two
    private readonly IMessageEndpoint _endpoint;
    private readonly int _size;
    private readonly byte[] _send;
    private readonly byte[] _receive;
    private readonly long[] _gapTicks;
    private long _sequence;

    public PingPongClient(IMessageEndpoint endpoint, LinkOptions link, DriverSettings settings)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(settings);
        _endpoint = endpoint;
        _size = link.MessageSize;
        _send = new byte[_size];
        _receive = new byte[_size];
        MessageStamp.Fill(_send);
        _gapTicks = settings.HasGaps ? MakeGaps(settings) : [];
    }

    public static ClientMeasurement Run(IMessageEndpoint endpoint, LinkOptions link, DriverSettings settings)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(settings);
        var client = new PingPongClient(endpoint, link, settings);
        if (link.Api == ReceiveApi.SendAndReceive)
        {
            return client.Measure(new ReplyTrip(endpoint, client._receive), settings);
        }
        if (link.Api != ReceiveApi.PollClaim)
        {
            return client.Measure(new CopyTrip(endpoint, client._receive), settings);
        }
        var zeroCopy = endpoint as IZeroCopyEndpoint
            ?? throw new InvalidOperationException("This transport cannot poll and claim in place; use --api receive.");
        return zeroCopy.Run(new ClaimVisitor(client, settings));
    }

    private ClientMeasurement Measure<TTrip>(TTrip trip, DriverSettings settings)
        where TTrip : struct, IRoundTrip
    {
        WarmUp(ref trip, settings.WarmupS);
        Control(MessageStamp.Mark);

        var histogram = LatencySummary.NewTickHistogram();
        var (done, elapsed, cpu) = Timed(ref trip, settings.Count, settings.DurationS, histogram, settings.HasGaps);
        if (settings.IdleS > 0)
        {
            // The server sits idle: what does waiting cost it (spinning burns a CPU; parking should cost ~nothing)?
            Control(MessageStamp.Idle);
            Thread.Sleep(TimeSpan.FromSeconds(settings.IdleS));
        }
        Control(MessageStamp.Stop);
        return new ClientMeasurement(done, elapsed, cpu, LatencySummary.FromTicks(histogram), done / elapsed);
    }

    /// <summary>Warm-up, without pauses, for the time given and at least <see cref="MinWarmupRoundTrips"/> (the first round trip also waits for the child to start).</summary>
    private void WarmUp<TTrip>(ref TTrip trip, double seconds)
        where TTrip : struct, IRoundTrip
    {
        var scratch = LatencySummary.NewTickHistogram();
        var warmupEnd = Stopwatch.GetTimestamp() + Ticks(seconds);
        while (_sequence < MinWarmupRoundTrips || Stopwatch.GetTimestamp() < warmupEnd)
        {
            RoundTrips(ref trip, BatchSize, long.MaxValue, scratch, gaps: false);
        }
    }

    /// <summary>
    /// Timed round trips into <paramref name="histogram"/> until <paramref name="count"/> are done (0: no count limit)
    /// or <paramref name="seconds"/> have passed (0: no time limit); returns how many, the seconds and this process's CPU.
    /// </summary>
    private (long Count, double ElapsedS, double CpuS) Timed<TTrip>(ref TTrip trip, long count, double seconds, LongHistogram histogram, bool gaps)
        where TTrip : struct, IRoundTrip
    {
        var target = count > 0 ? count : long.MaxValue;
        var cpuStart = CpuClock.ProcessSeconds;
        var start = Stopwatch.GetTimestamp();
        var stopAt = seconds > 0 ? start + Ticks(seconds) : long.MaxValue;
        long done = 0;
        while (done < target)
        {
            var batch = (int)Math.Min(BatchSize, target - done);
            var completed = RoundTrips(ref trip, batch, stopAt, histogram, gaps);
            done += completed;
            if (completed < batch)
            {
                break; // time is up
            }
        }
        return (done, Stopwatch.GetElapsedTime(start).TotalSeconds, CpuClock.ProcessSeconds - cpuStart);
    }

    /// <summary>Up to <paramref name="count"/> timed round trips; fewer if <paramref name="stopAt"/> passes.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int RoundTrips<TTrip>(ref TTrip trip, int count, long stopAt, LongHistogram histogram, bool gaps)
        where TTrip : struct, IRoundTrip
    {
        var send = _send;
        var maxTicks = LatencySummary.MaxTicks;
        for (var i = 0; i < count; i++)
        {
            if (gaps)
            {
                Pause(_gapTicks[(int)_sequence & (GapTableSize - 1)]);
            }
            var sequence = _sequence;
            var before = Stopwatch.GetTimestamp();
            trip.Run(send, sequence);
            var after = Stopwatch.GetTimestamp();
            trip.Verify(_size, sequence);
            histogram.RecordValue(Math.Min(after - before, maxTicks));
            _sequence = sequence + 1;
            if (after >= stopAt)
            {
                return i + 1;
            }
        }
        return count;
    }

    /// <summary>Sends a control message and checks that it comes back.</summary>
    private void Control(long code)
    {
        MessageStamp.Write(_send, code);
        _endpoint.Send(_send);
        var length = _endpoint.Receive(_receive);
        MessageStamp.Verify(_receive.AsSpan(0, length), _size, code);
    }

    /// <summary>Idle gap: the client waits precisely (spinning on the clock), so only the server goes idle.</summary>
    private static void Pause(long ticks)
    {
        var until = Stopwatch.GetTimestamp() + ticks;
        while (Stopwatch.GetTimestamp() < until)
        {
        }
    }

    private static long[] MakeGaps(DriverSettings settings)
    {
        var random = new Random(6); // the same pauses every run
        var gaps = new long[GapTableSize];
        for (var i = 0; i < gaps.Length; i++)
        {
            var us = settings.GapMinUs + (random.NextDouble() * (settings.GapMaxUs - settings.GapMinUs));
            gaps[i] = (long)(us * Stopwatch.Frequency / 1e6);
        }
        return gaps;
    }

    private static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    /// <summary>One round trip: send the stamped message, wait for its echo (timed), then verify it (untimed, or inside for poll).</summary>
    private interface IRoundTrip
    {
        void Run(byte[] template, long sequence);

        void Verify(int size, long sequence);
    }

    /// <summary>Send/Receive: stamp the client's buffer, send it (one copy in), receive the echo (one copy out).</summary>
    private struct CopyTrip(IMessageEndpoint endpoint, byte[] receive) : IRoundTrip
    {
        private int _length;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(byte[] template, long sequence)
        {
            MessageStamp.Write(template, sequence);
            endpoint.Send(template);
            _length = endpoint.Receive(receive);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Verify(int size, long sequence) => MessageStamp.Verify(receive.AsSpan(0, _length), size, sequence);
    }

    /// <summary>Request/reply in one call (<see cref="IMessageEndpoint.SendAndReceive"/>): the same copies as <see cref="CopyTrip"/>.</summary>
    private struct ReplyTrip(IMessageEndpoint endpoint, byte[] receive) : IRoundTrip
    {
        private int _length;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(byte[] template, long sequence)
        {
            MessageStamp.Write(template, sequence);
            _length = endpoint.SendAndReceive(template, receive);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Verify(int size, long sequence) => MessageStamp.Verify(receive.AsSpan(0, _length), size, sequence);
    }

    /// <summary>Poll/claim: write the message straight into a claim, poll the echo in place and verify it there (every byte read).</summary>
    private struct ClaimTrip<TLink>(TLink link) : IRoundTrip
        where TLink : struct, IZeroCopyLink
    {
        private readonly TLink _link = link;
        private EchoCheck _check;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(byte[] template, long sequence)
        {
            var writer = new StampWriter(template, sequence);
            _link.SendInPlace(template.Length, ref writer);
            _check.Expected = sequence;
            _check.Size = template.Length;
            while (_link.Poll(ref _check, 1) == 0)
            {
            }
        }

        public readonly void Verify(int size, long sequence)
        {
            // done in place by EchoCheck, inside the timed round trip
        }
    }

    /// <summary>Copies the pattern into the claim and stamps it: what a producer writing in place does.</summary>
    private readonly ref struct StampWriter(byte[] template, long sequence) : IMessageWriter
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(Span<byte> destination)
        {
            template.CopyTo(destination);
            MessageStamp.Write(destination, sequence);
        }
    }

    private struct EchoCheck : IMessageConsumer
    {
        public long Expected;
        public int Size;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void OnMessage(ReadOnlySpan<byte> message) => MessageStamp.Verify(message, Size, Expected);
    }

    private sealed class ClaimVisitor(PingPongClient client, DriverSettings settings) : IZeroCopyVisitor<ClientMeasurement>
    {
        public ClientMeasurement Visit<TLink>(TLink link)
            where TLink : struct, IZeroCopyLink
            => client.Measure(new ClaimTrip<TLink>(link), settings);
    }
}
