using IIC.Perf.Core;

namespace IIC.Perf.Tests;

/// <summary>
/// An in-process echo for the real ping-pong client: each message sent comes straight back, except the one the test
/// spoils (one byte changed, or the previous message handed back again: a stale echo).
/// </summary>
internal sealed class EchoingEndpoint(int spoilAt, int position = -1) : IMessageEndpoint, IZeroCopyEndpoint
{
    private byte[] _pending = [];
    private byte[] _previous = [];
    private int _sent;

    /// <summary>Messages the client sent.</summary>
    public int Sent => _sent;

    public void Send(ReadOnlySpan<byte> message) => Accept(message.ToArray());

    public int Receive(Span<byte> buffer)
    {
        _pending.CopyTo(buffer);
        return _pending.Length;
    }

    public TResult Run<TResult>(IZeroCopyVisitor<TResult> visitor) => visitor.Visit(new Link(this));

    public void Dispose()
    {
    }

    private void Accept(byte[] message)
    {
        _sent++;
        var echo = message;
        if (_sent == spoilAt)
        {
            if (position < 0)
            {
                echo = _previous;
            }
            else
            {
                echo[position] ^= 0x01;
            }
        }
        _previous = message;
        _pending = echo;
    }

    private readonly struct Link(EchoingEndpoint endpoint) : IZeroCopyLink
    {
        public int Poll<TConsumer>(ref TConsumer consumer, int limit)
            where TConsumer : struct, IMessageConsumer
        {
            consumer.OnMessage(endpoint._pending);
            return 1;
        }

        public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
            where TWriter : struct, IMessageWriter, allows ref struct
        {
            var claim = new byte[length];
            writer.Write(claim);
            endpoint.Accept(claim);
        }
    }
}
