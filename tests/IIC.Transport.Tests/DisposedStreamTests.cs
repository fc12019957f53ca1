using System.Net;
using System.Net.Sockets;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 24: after Dispose, both IICFast streams' ReadAsync and WriteAsync throw ObjectDisposedException at the call, not
/// in a returned task, as .NET's own connection streams do: a real NetworkStream over a loopback TCP connection is checked
/// here the same way, so the convention is pinned against the runtime the tests run on (SslStream checks for disposal at
/// the call too). Before, IicStream threw it only when the read reached the disposed channel: a read after the peer's end
/// returned 0, one with bytes kept from a longer message threw ArgumentOutOfRangeException; DuplexPipeStream returned a
/// faulted task.
/// </summary>
public class DisposedStreamTests
{
    [Fact]
    public async Task A_disposed_NetworkStream_throws_ObjectDisposedException_from_ReadAsync_and_WriteAsync_at_the_call()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var accepted = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        stream.Dispose();
        AssertThrowsAtTheCall(stream);
    }

    [Fact]
    public void A_disposed_IicStream_throws_ObjectDisposedException_at_the_call_also_with_bytes_kept_from_a_longer_message()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            var stream = a.AsStream();
            b.Send(new byte[100]);
            Assert.Equal(10, stream.Read(new byte[10])); // 90 bytes kept for the next read
            stream.Dispose();
            AssertThrowsAtTheCall(stream); // round 23: ReadAsync threw ArgumentOutOfRangeException (the kept bytes' buffer was returned)
            Assert.Throws<ObjectDisposedException>(() => stream.Read(new byte[10]));
        }
    }

    [Fact]
    public void A_disposed_IicStream_throws_ObjectDisposedException_at_the_call_also_after_the_peers_end()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        {
            var stream = a.AsStream();
            b.Dispose();
            Assert.Equal(0, stream.Read(new byte[10])); // the end
            stream.Dispose();
            AssertThrowsAtTheCall(stream); // round 23: ReadAsync returned 0
            Assert.Throws<ObjectDisposedException>(() => stream.Read(new byte[10]));
        }
    }

    [Fact]
    public async Task A_disposed_DuplexPipeStream_throws_ObjectDisposedException_at_the_call()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (b)
        {
            var stream = new DuplexPipeStream(new IicDuplexPipe(a).Start());
            await stream.DisposeAsync();
            AssertThrowsAtTheCall(stream); // round 23: faulted tasks
        }
    }

    /// <summary>
    /// Round 25: the byte[] overloads of a disposed stream given bad arguments (a null buffer, a negative offset, a count
    /// past the end) throw what a disposed NetworkStream throws, call by call: it validates the arguments first (an
    /// ArgumentException naming the argument), then checks for disposal. Both IICFast streams did so already (their
    /// byte[] overloads validate, then forward to the span ones, which check disposal); this pins the order against the
    /// runtime the tests run on, so a stream or a runtime that changes it fails here.
    /// </summary>
    [Fact]
    public async Task A_disposed_stream_given_bad_arguments_throws_what_a_disposed_NetworkStream_throws()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var accepted = await listener.AcceptTcpClientAsync();
        var network = client.GetStream();
        network.Dispose();
        var expected = ExceptionsOfBadCalls(network);
        Assert.All(expected, type => Assert.True(typeof(ArgumentException).IsAssignableFrom(type), $"NetworkStream threw {type?.Name}: it no longer validates before it checks for disposal"));

        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (b)
        {
            var iic = a.AsStream();
            iic.Dispose();
            Assert.Equal(expected, ExceptionsOfBadCalls(iic));
        }
        var (c, d) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (d)
        {
            var piped = new DuplexPipeStream(new IicDuplexPipe(c).Start());
            await piped.DisposeAsync();
            Assert.Equal(expected, ExceptionsOfBadCalls(piped));
        }
    }

    /// <summary>The exception type each byte[] overload throws at the call with each bad argument (null: none).</summary>
    private static List<Type?> ExceptionsOfBadCalls(Stream stream)
    {
        var buffer = new byte[10];
        (byte[]? Buffer, int Offset, int Count)[] bad = [(null, 0, 1), (buffer, -1, 1), (buffer, 0, 11), (buffer, 8, 3)];
        var types = new List<Type?>();
        foreach (var (array, offset, count) in bad)
        {
            types.Add(Record.Exception(() => stream.Read(array!, offset, count))?.GetType());
            types.Add(Record.Exception(() => stream.Write(array!, offset, count))?.GetType());
            types.Add(Record.Exception(() => { _ = stream.ReadAsync(array!, offset, count); })?.GetType());
            types.Add(Record.Exception(() => { _ = stream.WriteAsync(array!, offset, count); })?.GetType());
        }
        return types;
    }

    /// <summary>ReadAsync and WriteAsync (both overloads each) throw before they return anything.</summary>
    private static void AssertThrowsAtTheCall(Stream stream)
    {
        var buffer = new byte[10];
        Assert.Throws<ObjectDisposedException>(() => { _ = stream.ReadAsync(buffer.AsMemory()).AsTask(); });
        Assert.Throws<ObjectDisposedException>(() => { _ = stream.ReadAsync(buffer, 0, buffer.Length); });
        Assert.Throws<ObjectDisposedException>(() => { _ = stream.WriteAsync(buffer.AsMemory()).AsTask(); });
        Assert.Throws<ObjectDisposedException>(() => { _ = stream.WriteAsync(buffer, 0, buffer.Length); });
    }
}
