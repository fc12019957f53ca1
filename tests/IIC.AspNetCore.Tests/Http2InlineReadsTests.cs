using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// IicPipeOptions.InlineHttp2Reads: a connection that opens with the HTTP/2 client preface (received by a Kestrel
/// connection, written by the HTTP client's stream) continues its reader on the receive thread, with the default
/// thread-pool ApplicationScheduler; any other first bytes (HTTP/1.1, TLS) keep the thread pool, and the option off
/// keeps it too. Real channel pairs; which thread a reader's continuation runs on, not time.
/// </summary>
public class Http2InlineReadsTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly byte[] s_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
    private static readonly byte[] s_http11 = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray();

    private static ChannelOptions SmallRing() => ChannelOptions.Default with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park };

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task A_Kestrel_connection_reads_inline_once_it_received_the_HTTP2_preface(bool http2, bool expectInline)
    {
        var (client, serverSide) = IicChannel.CreatePair(SmallRing());
        using (client)
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("inline-reads"), IicPipeOptions.Default with { InlineHttp2Reads = true });
            connection.Start();
            try
            {
                // Two messages, each read pending before it is sent: the first carries the connection's first bytes.
                var first = ReadOnceAsync(connection.Transport.Input);
                client.Send(http2 ? [.. s_preface, 1, 2, 3] : s_http11);
                var (thread, length) = await first.WaitAsync(s_timeout);
                Assert.Equal(http2 ? s_preface.Length + 3 : s_http11.Length, length);
                Assert.Equal(expectInline, thread == connection.Pipe.ReceiveThread);
                var second = ReadOnceAsync(connection.Transport.Input);
                client.Send("next"u8);
                (thread, length) = await second.WaitAsync(s_timeout);
                Assert.Equal(4, length);
                Assert.Equal(expectInline, thread == connection.Pipe.ReceiveThread);
                Assert.Equal(expectInline, connection.Pipe.ReadsInlineForHttp2);
                Assert.True(expectInline || thread.IsThreadPoolThread, "without HTTP/2 the reader continues on the thread pool");
            }
            finally
            {
                await connection.DisposeAsync().AsTask().WaitAsync(s_timeout);
            }
        }
    }

    [Fact]
    public async Task The_option_off_keeps_an_HTTP2_connection_on_the_thread_pool()
    {
        var (client, serverSide) = IicChannel.CreatePair(SmallRing());
        using (client)
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("inline-reads-off"), IicPipeOptions.Default with { InlineHttp2Reads = false });
            connection.Start();
            try
            {
                var read = ReadOnceAsync(connection.Transport.Input);
                client.Send(s_preface);
                var (thread, _) = await read.WaitAsync(s_timeout);
                Assert.NotEqual(connection.Pipe.ReceiveThread, thread);
                Assert.True(thread.IsThreadPoolThread);
                Assert.False(connection.Pipe.ReadsInlineForHttp2);
            }
            finally
            {
                await connection.DisposeAsync().AsTask().WaitAsync(s_timeout);
            }
        }
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task The_HTTP_client_stream_reads_inline_once_it_wrote_the_HTTP2_preface(bool http2, bool expectInline)
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            var pipe = new IicDuplexPipe(first, IicPipeOptions.Default with { InlineHttp2Reads = true }, "inline-reads client").Start();
            await using var stream = new DuplexPipeStream(pipe);
            var peer = second.AsDuplexPipe();
            await stream.WriteAsync(http2 ? s_preface : s_http11);
            var written = await peer.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
            peer.Input.AdvanceTo(written.Buffer.End);
            var buffer = new byte[16];
            var read = ReadOnceAsync(stream, buffer);
            await peer.Output.WriteAsync("reply"u8.ToArray());
            var (thread, length) = await read.WaitAsync(s_timeout);
            Assert.Equal(5, length);
            Assert.Equal(expectInline, thread == pipe.ReceiveThread);
            Assert.Equal(expectInline, pipe.ReadsInlineForHttp2);
        }
    }

    /// <summary>One read; returns the thread its continuation ran on (no context captured: the pipe's scheduler decides).</summary>
    private static async Task<(Thread Thread, long Length)> ReadOnceAsync(PipeReader reader)
    {
        var result = await reader.ReadAsync().ConfigureAwait(false);
        var thread = Thread.CurrentThread;
        var length = result.Buffer.Length;
        reader.AdvanceTo(result.Buffer.End);
        return (thread, length);
    }

    private static async Task<(Thread Thread, long Length)> ReadOnceAsync(Stream stream, byte[] buffer)
    {
        var length = await stream.ReadAsync(buffer).ConfigureAwait(false);
        return (Thread.CurrentThread, length);
    }
}
