using System.Diagnostics;
using System.Runtime.CompilerServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The receiving side of the one-way test: takes every message (copying out with Receive, or in place with Poll),
/// reads every byte (a checksum against the stamped pattern, see MessageStamp) and checks the sequence number against the next expected one, and acknowledges every control message (Mark, Stop, and in interleaved rounds Resume and Lap).
/// Any loss, duplicate, reordering or tearing ends the run with an error.
/// </summary>
internal sealed class SinkServer
{
    /// <summary>The most messages one poll of the sink hands out.</summary>
    public const int PollLimit = 256;

    /// <summary>
    /// The default of <see cref="CatchUpIdleUs"/>: 50 µs, at least 250 records from a writer doing 5 M msgs/s (a far
    /// placement under load) and about 2500 (15 % of either 32 B ring) at 50 M, so a caught-up sink's next poll finds at
    /// least its limit waiting and its blocks count as draining (<see cref="Results.SinkRegime"/>) on both rings
    /// (round 14, PROVISIONAL: 5 µs left a slow-placement raw-shm sink keeping up beside an iic sink draining, 7 of 10
    /// rounds; 20 and 50 µs: every kept round of 8 runs draining on both sides).
    /// </summary>
    public const double DefaultCatchUpIdleUs = 50;

    /// <summary>
    /// How long (µs) the throughput test's polling sink steps back after a poll that found the ring empty before its
    /// limit, i.e. once it has caught up with its writer (<c>IIC_PERF_SINK_IDLE_US</c>; 0: never, the sink before round
    /// 14). A sink that keeps up polls the very line its writer is filling, so every record costs the writer a line
    /// taken back from the reader, and the pair stays in that slow regime; one that fell behind drains a backlog and
    /// never touches the writer's line, which keeps it behind: two stable regimes about 2x apart, for both rings, and
    /// which one a block lands in decided the ratio more than the rings did (round 13, branch oneway). Stepping back
    /// lets a batch build up (at 30 M msgs/s, 50 µs is ~1500 records, well below either ring's 16 K), so the next poll
    /// drains it and the writer's line is shared once per batch instead of once per record. It cannot lower the rate
    /// below what the slower side sustains: a reader slower than its writer never finds the ring empty and never idles,
    /// and while it idles the writer never waits (the ring is deep). Agrona's and Aeron's consumers idle likewise after a
    /// poll that found nothing (an idle strategy); this one counts "found the ring empty" as nothing more to do.
    /// </summary>
    public static double CatchUpIdleUs { get; } = ReadIdleUs();

    /// <summary>
    /// The largest message a throughput sink steps back for: the main job's 32 B, whose rings hold 16 K records (raw-shm's
    /// 1 MiB ring of 40 B slots, iic's of 64 B lines), far above a 50 µs batch; a 4 KiB message's rings hold only 128 and
    /// 256, which such a batch could fill, making the writer wait for room.
    /// </summary>
    public const int IdleUpToSize = 64;

    private static readonly long s_idleTicks = (long)(CatchUpIdleUs * Stopwatch.Frequency / 1e6);

    private long _polls;
    private long _polled;
    private readonly IMessageEndpoint _endpoint;
    private readonly int _size;
    private readonly byte[] _buffer;
    private Verifier _verifier;

    private SinkServer(IMessageEndpoint endpoint, int size)
    {
        _endpoint = endpoint;
        _size = size;
        _buffer = new byte[size];
        MessageStamp.Fill(_buffer); // the acknowledgements are verified messages too
        _verifier = new Verifier(size);
    }

    public static ServerReport Run(IMessageEndpoint endpoint, LinkOptions link)
    {
        ArgumentNullException.ThrowIfNull(link);
        var server = new SinkServer(endpoint, link.MessageSize);
        // The throughput test's spinning polling sinks of small messages step back when caught up (CatchUpIdleUs); the sizes
        // test's do not, nor do those of larger messages, whose rings hold too few records for the batch (see IdleUpToSize),
        // nor those that wait by parking (spinpark, park, adaptive, raw-futex): how they fall asleep is what their rows measure.
        var idleTicks = link.Test == BenchTest.Throughput && link.Mode == WaitModes.Spin && link.MessageSize <= IdleUpToSize ? s_idleTicks : 0;
        var poller = link.Api == ReceiveApi.Poll
            ? endpoint as IInPlaceReceiver ?? throw new InvalidOperationException("This transport's endpoint cannot poll in place; use --api receive.")
            : null;
        // CPU seconds of the measured phase: from the Mark to the Stop, without the pauses between a Lap and the next
        // Resume (interleaved rounds, where another transport's block runs meanwhile and this receiver sleeps).
        var cpu = 0.0;
        double? since = CpuClock.ProcessSeconds;
        // Polling sinks: messages per poll over each interleaved block (Resume to Lap), the regime it ran in.
        var blocks = new List<double>();
        (long Polls, long Polled)? blockStart = null;
        var trace = default(MeasureTrace);
        while (true)
        {
            if (poller is not null)
            {
                var handled = poller.Poll(ref server._verifier, PollLimit);
                server._polls++;
                server._polled += handled;
                if (handled < PollLimit && idleTicks > 0 && !server._verifier.HasControl)
                {
                    // Caught up with the writer (the poll found the ring empty before its limit): step back, so the next
                    // poll drains a batch instead of sitting on the line the writer is filling (see CatchUpIdleUs).
                    Idle(idleTicks);
                }
            }
            else
            {
                server.ReceiveBatch(PollLimit);
            }
            var control = server._verifier.TakeControl();
            if (control == 0)
            {
                continue;
            }
            var lapSleepUs = 0L;
            if (control == MessageStamp.Mark)
            {
                trace = MeasureTrace.Start();
                server._verifier.Counted = 0;
                server._polls = 0;
                server._polled = 0;
                cpu = 0;
                since = CpuClock.ProcessSeconds;
            }
            else if (control == MessageStamp.Resume)
            {
                since ??= CpuClock.ProcessSeconds;
                blockStart = (server._polls, server._polled);
            }
            else if (MessageStamp.IsLap(control, out lapSleepUs) && since is { } lapStart)
            {
                cpu += CpuClock.ProcessSeconds - lapStart;
                since = null;
                if (poller is not null && blockStart is { } block)
                {
                    blocks.Add(PerPoll(server._polled - block.Polled, server._polls - block.Polls));
                }
                blockStart = null;
            }
            server.Acknowledge();
            if (control == MessageStamp.Stop)
            {
                trace.Print($"sink of {SizeText.Format(link.MessageSize)}");
                return new ServerReport(server._verifier.Counted, cpu + (since is { } start ? CpuClock.ProcessSeconds - start : 0))
                {
                    MsgsPerPoll = poller is null ? null : PerPoll(server._polled, server._polls),
                    BlockMsgsPerPoll = blocks.Count > 0 ? blocks : null,
                    StopSeenTicks = server._verifier.ControlSeenTicks,
                };
            }
            if (lapSleepUs > 0)
            {
                // Sleep through the other transport's block rather than spin on an empty ring beside it (2 CPUs);
                // the client's Resume waits in the ring until this wakes.
                Thread.Sleep(TimeSpan.FromMicroseconds(lapSleepUs));
            }
        }
    }

    private static double PerPoll(long messages, long polls) => polls > 0 ? Math.Round((double)messages / polls, 1) : 0;

    /// <summary>Spins (no syscall, no shared memory touched) until <paramref name="ticks"/> Stopwatch ticks have passed.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Idle(long ticks)
    {
        var until = Stopwatch.GetTimestamp() + ticks;
        while (Stopwatch.GetTimestamp() < until)
        {
            Thread.SpinWait(1);
        }
    }

    private static double ReadIdleUs()
    {
        var text = Environment.GetEnvironmentVariable("IIC_PERF_SINK_IDLE_US");
        if (string.IsNullOrEmpty(text))
        {
            return DefaultCatchUpIdleUs;
        }
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var us) && us is >= 0 and <= 1000
            ? us
            : throw new InvalidOperationException($"IIC_PERF_SINK_IDLE_US is '{text}': give microseconds from 0 to 1000, or unset it.");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReceiveBatch(int count)
    {
        var endpoint = _endpoint;
        var buffer = _buffer;
        for (var i = 0; i < count; i++)
        {
            var length = endpoint.Receive(buffer);
            _verifier.OnMessage(buffer.AsSpan(0, length));
            if (_verifier.HasControl)
            {
                return;
            }
        }
    }

    private void Acknowledge()
    {
        MessageStamp.Write(_buffer, MessageStamp.Ack);
        _endpoint.Send(_buffer.AsSpan(0, _size));
    }

    /// <summary>
    /// Checks each message in order and keeps a control message for the loop above. Nothing follows a control message
    /// until it is acknowledged (the sender waits for the ack), so a poll never runs past one.
    /// </summary>
    private struct Verifier(int size) : IMessageConsumer
    {
        private long _expected;
        private long _control;

        public long Counted { get; set; }

        /// <summary>When the last control message was taken (its first word read), as a Stopwatch timestamp.</summary>
        public long ControlSeenTicks { get; private set; }

        public readonly bool HasControl => _control != 0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var sequence = MessageStamp.Read(message);
            if (sequence < 0)
            {
                ControlSeenTicks = Stopwatch.GetTimestamp(); // before reading the control message through: see ClientMeasurement.EndedAt
                MessageStamp.Verify(message, size, sequence);
                _control = sequence;
                return;
            }
            MessageStamp.Verify(message, size, _expected);
            _expected++;
            Counted++;
        }

        public long TakeControl()
        {
            var control = _control;
            _control = 0;
            return control;
        }
    }
}
