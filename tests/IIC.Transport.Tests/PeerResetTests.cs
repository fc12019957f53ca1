using System.Globalization;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 25 (docs/window-layout.md 2.4, "Telling a reset from a clean close"): a duplex pipe that resets its connection
/// (here: its application completes the input with the peer's bytes unread) closes its side with the close reason
/// "reset", and the peer, another process reading through a duplex pipe or a stream, sees its input fail with an
/// IicChannelClosedException whose PeerReset is set, after the bytes this side sent before, as a TCP peer's reads fail
/// after a RST; a clean close still ends its reads cleanly. Before, nothing on the wire told the two apart: the peer's input ended cleanly after a reset too.
/// </summary>
public class PeerResetTests
{
    private const int Ring = 64 * 1024;
    private const int Size = 1000;
    private const int Greeting = 100; // what this side sends before its end: the child receives it before the reset or the end
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Theory]
    [InlineData("pipe")]
    [InlineData("stream")]
    public async Task A_reset_fails_the_peers_reads_with_PeerReset(string peerReadsThrough)
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("reset-watcher", Ring, 1, null, peerReadsThrough, Size.ToString(CultureInfo.InvariantCulture));
        using (child)
        {
            var pipe = (IicDuplexPipe)channels[0].AsDuplexPipe();
            try
            {
                var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                Assert.Equal(Size, result.Buffer.Length); // one record, one batch
                pipe.Input.AdvanceTo(result.Buffer.Start);
                await pipe.Output.WriteAsync(new byte[Greeting]);
                pipe.Input.Complete(); // 1000 bytes unread: the connection is reset (round 24)
                Assert.NotNull(pipe.ResetError);

                // Round 24: "ended clean after 100", as after a clean close.
                Assert.Equal("failed after 100: IicChannelClosedException reset=true", child.ReadLine(s_timeout));
            }
            finally
            {
                await pipe.DisposeAsync();
            }
            child.AssertExit(0);
        }
    }

    [Theory]
    [InlineData("pipe")]
    [InlineData("stream")]
    public async Task A_clean_close_still_ends_the_peers_reads_cleanly(string peerReadsThrough)
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("reset-watcher", Ring, 1, null, peerReadsThrough, Size.ToString(CultureInfo.InvariantCulture));
        using (child)
        {
            var pipe = (IicDuplexPipe)channels[0].AsDuplexPipe();
            var read = 0L;
            while (read < Size)
            {
                var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                read += result.Buffer.Length;
                pipe.Input.AdvanceTo(result.Buffer.End);
            }
            await pipe.Output.WriteAsync(new byte[Greeting]);
            await pipe.DisposeAsync();
            Assert.Null(pipe.ResetError);
            Assert.Equal("ended clean after 100", child.ReadLine(s_timeout));
            child.AssertExit(0);
        }
    }

    /// <summary>
    /// Round 25b: a send to a peer that reset the connection throws <see cref="IicChannelClosedException"/> with
    /// <see cref="IicChannelClosedException.PeerReset"/> set too (round 25: only the receive said so; the send's said false),
    /// through the channel and its stream; after a clean close it stays false.
    /// </summary>
    [Theory]
    [InlineData("reset", true)]
    [InlineData("clean", false)]
    public void A_send_after_the_peers_reset_says_PeerReset(string howThePeerEnds, bool reset)
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("resetter", Ring, 1, null, howThePeerEnds);
        using (child)
        using (var channel = channels[0])
        {
            channel.Send(new byte[Greeting]);
            Assert.Equal("ended", child.ReadLine(s_timeout)); // the child's side is closed (reason stored) before it prints

            var send = Assert.Throws<IicChannelClosedException>(() => channel.Send("x"u8));
            Assert.Equal(reset, send.PeerReset);
            var write = Assert.Throws<IicChannelClosedException>(() => channel.AsStream().Write(new byte[10]));
            Assert.Equal(reset, write.PeerReset);
            child.WriteLine("exit");
            child.AssertExit(0);
        }
    }
}
