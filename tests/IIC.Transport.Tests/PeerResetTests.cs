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
}
