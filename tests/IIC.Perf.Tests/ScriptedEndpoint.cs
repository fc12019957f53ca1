using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>
/// A transport played from a script, in process: the harness's real receivers (SinkServer, EchoServer) take the
/// scripted messages through each of their receive paths (Receive copying out, Poll in place, poll + claim), and
/// every message they send back is kept. An empty script throws rather than wait, so a receiver that fails to stop
/// fails the test instead of hanging it.
/// </summary>
internal sealed class ScriptedEndpoint : IMessageEndpoint, IInPlaceReceiver, IZeroCopyEndpoint
{
    private readonly Queue<byte[]> _incoming;

    public ScriptedEndpoint(IEnumerable<byte[]> incoming)
    {
        _incoming = new Queue<byte[]>(incoming);
    }

    /// <summary>What the receiver sent back, in order.</summary>
    public List<byte[]> Sent { get; } = [];

    /// <summary>Scripted messages the receiver has not taken.</summary>
    public int Left => _incoming.Count;

    /// <summary>A message of <paramref name="size"/> bytes as every sender of the harness makes it: the pattern, stamped.</summary>
    public static byte[] Message(int size, long sequence)
    {
        var message = new byte[size];
        MessageStamp.Fill(message);
        MessageStamp.Write(message, sequence);
        return message;
    }

    /// <summary><see cref="Message"/> with one byte changed (one bit flipped).</summary>
    public static byte[] Corrupted(int size, long sequence, int position)
    {
        var message = Message(size, sequence);
        message[position] ^= 0x10;
        return message;
    }

    public void Send(ReadOnlySpan<byte> message) => Sent.Add(message.ToArray());

    public int Receive(Span<byte> buffer)
    {
        var next = Next();
        next.CopyTo(buffer);
        return next.Length;
    }

    /// <summary>One message per call: a real poll never runs past a control message either (the sender waits for its ack).</summary>
    public int Poll<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer
    {
        Assert.True(limit >= 1);
        consumer.OnMessage(Next());
        return 1;
    }

    public TResult Run<TResult>(IZeroCopyVisitor<TResult> visitor) => visitor.Visit(new Link(this));

    public void Dispose()
    {
    }

    private byte[] Next() => _incoming.TryDequeue(out var next)
        ? next
        : throw new InvalidOperationException("The script ran out: the receiver asked for more messages than the test gave it.");

    private readonly struct Link(ScriptedEndpoint endpoint) : IZeroCopyLink
    {
        public int Poll<TConsumer>(ref TConsumer consumer, int limit)
            where TConsumer : struct, IMessageConsumer
            => endpoint.Poll(ref consumer, limit);

        public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
            where TWriter : struct, IMessageWriter, allows ref struct
        {
            var claim = new byte[length];
            writer.Write(claim);
            endpoint.Sent.Add(claim);
        }
    }
}

/// <summary>Runs the real receivers over a <see cref="ScriptedEndpoint"/>.</summary>
internal static class Receivers
{
    public static ServerReport Sink(ScriptedEndpoint endpoint, int size, string api)
        => Harness.SinkServer.Run(endpoint, new LinkOptions(BenchTest.Throughput, WaitModes.Spin, size, Api(api)));

    public static ServerReport Echo(ScriptedEndpoint endpoint, int size, string api)
        => Harness.EchoServer.Run(endpoint, new LinkOptions(BenchTest.PingPong, WaitModes.Spin, size, Api(api)));

    private static ReceiveApi Api(string name)
    {
        Assert.True(ReceiveApiNames.TryParse(name, out var api), name);
        return api;
    }
}
