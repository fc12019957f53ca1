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
    private const int PollLimit = 256;
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
        var poller = link.Api == ReceiveApi.Poll
            ? endpoint as IInPlaceReceiver ?? throw new InvalidOperationException("This transport's endpoint cannot poll in place; use --api receive.")
            : null;
        // CPU seconds of the measured phase: from the Mark to the Stop, without the pauses between a Lap and the next
        // Resume (interleaved rounds, where another transport's block runs meanwhile and this receiver sleeps).
        var cpu = 0.0;
        double? since = CpuClock.ProcessSeconds;
        while (true)
        {
            if (poller is not null)
            {
                poller.Poll(ref server._verifier, PollLimit);
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
                server._verifier.Counted = 0;
                cpu = 0;
                since = CpuClock.ProcessSeconds;
            }
            else if (control == MessageStamp.Resume)
            {
                since ??= CpuClock.ProcessSeconds;
            }
            else if (MessageStamp.IsLap(control, out lapSleepUs) && since is { } lapStart)
            {
                cpu += CpuClock.ProcessSeconds - lapStart;
                since = null;
            }
            server.Acknowledge();
            if (control == MessageStamp.Stop)
            {
                return new ServerReport(server._verifier.Counted, cpu + (since is { } start ? CpuClock.ProcessSeconds - start : 0));
            }
            if (lapSleepUs > 0)
            {
                // Sleep through the other transport's block rather than spin on an empty ring beside it (2 CPUs);
                // the client's Resume waits in the ring until this wakes.
                Thread.Sleep(TimeSpan.FromMicroseconds(lapSleepUs));
            }
        }
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

        public readonly bool HasControl => _control != 0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var sequence = MessageStamp.Read(message);
            if (sequence < 0)
            {
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
