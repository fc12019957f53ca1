using System.Runtime.CompilerServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The receiving side of the one-way test: takes every message (copying out with Receive, or in place with Poll),
/// reads every byte (a checksum against the stamped pattern, see MessageStamp) and checks the sequence number against the next expected one, and acknowledges Mark and Stop.
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
        var cpuStart = CpuClock.ProcessSeconds;
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
            if (control == MessageStamp.Mark)
            {
                server._verifier.Counted = 0;
                cpuStart = CpuClock.ProcessSeconds;
            }
            server.Acknowledge();
            if (control == MessageStamp.Stop)
            {
                return new ServerReport(server._verifier.Counted, CpuClock.ProcessSeconds - cpuStart);
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
