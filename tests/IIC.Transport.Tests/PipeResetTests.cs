using System.Globalization;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 23 (docs/window-layout.md 2.4, "Bytes nobody will read"): the duplex pipe resets its connection whenever bytes
/// come in that nobody will read, as TCP resets a connection closed with unread data, so the peer's send ends instead of
/// waiting for room until this side is disposed; a disposal does not wait out its drain for a peer stuck behind a refused
/// message; and DuplexPipeStream's queued-byte count holds no bytes that will never be sent. The peer is a child process
/// ("refusal-sender", as in ReceiveLimitResetTests): small messages, then one large raw Send that waits for room, then one
/// more send; it prints how each send ended and what it then received.
/// </summary>
public class PipeResetTests
{
    private const int Ring = 64 * 1024;
    private const int Limit = 256 * 1024;
    private const int Large = (8 << 20) + 3; // over the limit when there is one; too large for the ring either way
    private const int Count = 40;
    private const int Size = 1000;
    private const int Greeting = 100;
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task Bytes_arriving_after_the_application_completed_the_input_reset_the_connection_so_the_peers_send_ends()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host, limit: null, "announce"); // nothing is refused here: only nobody reads
        using (child)
        {
            // The 40 small messages are in the ring and the large send waits for room: the reset cannot end a small one.
            Assert.Equal("sent 40", child.ReadLine(s_timeout));
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var pipe = new IicDuplexPipe(channel) { ChannelEnded = () => ended.TrySetResult() };
            try
            {
                await pipe.Output.WriteAsync(new byte[Greeting]).AsTask().WaitAsync(s_timeout); // sent when the send loop starts
                pipe.Input.Complete(); // the application will read nothing
                pipe.Start();

                // The round 22 receive thread dropped its first batch and stopped taking messages, silently: the child's
                // large send waited for room until this side was disposed (this read timed out).
                AssertPeerLearnedOfTheReset(child, expectedReceived: Greeting);
                await pipe.ReceiveEnded.WaitAsync(s_timeout);
                await ended.Task.WaitAsync(s_timeout); // Kestrel's ConnectionClosed, for a connection

                // The output fails with the reset, which names what happened and how many bytes went unread.
                var write = await Assert.ThrowsAsync<IicChannelClosedException>(async () => await pipe.Output.WriteAsync(new byte[Greeting]));
                Assert.Contains("bytes arrived after the application completed the pipe's input", write.Message, StringComparison.Ordinal);
                Assert.Same(write, pipe.ResetError);
            }
            finally
            {
                await pipe.DisposeAsync();
            }
            child.AssertExit(0);
        }
    }

    /// <summary>
    /// Round 24: bytes already in the input when the application completes it reset the connection too, as a TCP socket
    /// closed with data in its receive buffer does; the reset names how many went unread. The application consumed 300 of
    /// the 1000 bytes it was handed (or none: it completes while it still holds its read). Round 23 reset only for bytes
    /// arriving after the Complete: nothing reset here, and the peer's sends went on into a ring nobody read.
    /// </summary>
    [Theory]
    [InlineData(300)]
    [InlineData(0)]
    public async Task Completing_the_input_with_bytes_received_and_not_read_resets_the_connection_and_names_how_many(int consumed)
    {
        var (peer, mine) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = Ring });
        using (peer)
        {
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var pipe = new IicDuplexPipe(mine) { ChannelEnded = () => ended.TrySetResult() }.Start();
            try
            {
                peer.Send(new byte[Size]); // one record: one batch, handed out by one read
                var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                Assert.Equal(Size, result.Buffer.Length);
                if (consumed > 0)
                {
                    pipe.Input.AdvanceTo(result.Buffer.GetPosition(consumed), result.Buffer.End);
                }
                pipe.Input.Complete(); // nothing arrives after this: only the unread bytes can reset

                var reset = Assert.IsType<IicChannelClosedException>(pipe.ResetError);
                Assert.Contains($"completed the pipe's input with {Size - consumed} bytes received and not read", reset.Message, StringComparison.Ordinal);
                await ended.Task.WaitAsync(s_timeout); // Kestrel's ConnectionClosed, for a connection
                Assert.Same(reset, await Assert.ThrowsAsync<IicChannelClosedException>(async () => await pipe.Output.WriteAsync(new byte[Greeting])));

                // The peer's sends end, as over TCP after the reset.
                Assert.Throws<IicChannelClosedException>(() => peer.Send(new byte[Greeting]));
            }
            finally
            {
                await pipe.DisposeAsync();
            }
        }
    }

    /// <summary>Bytes that were all read leave nothing to reset: the Complete is a clean one and the pipe keeps sending.</summary>
    [Fact]
    public async Task Completing_the_input_after_reading_every_byte_resets_nothing()
    {
        var (peer, mine) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = Ring });
        using (peer)
        {
            var pipe = new IicDuplexPipe(mine).Start();
            try
            {
                peer.Send(new byte[Size]);
                var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                pipe.Input.AdvanceTo(result.Buffer.End);
                pipe.Input.Complete();

                Assert.Null(pipe.ResetError);
                await pipe.Output.WriteAsync(new byte[Greeting]);
                Assert.Equal(Greeting, peer.Receive(new byte[Size]));
            }
            finally
            {
                await pipe.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Disposing_a_pipe_whose_peer_is_stuck_behind_an_unread_refusal_resets_at_once_instead_of_waiting_out_the_drain()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host, limit: Limit);
        using (child)
        {
            var pipe = (IicDuplexPipe)channel.AsDuplexPipe();
            try
            {
                // The child reads nothing until its sends end, and its send of the refused message waits behind it in a
                // ring this side no longer reads: this output can drain only once the connection is reset.
                var waiting = pipe.Output.WriteAsync(new byte[8 * Ring]);
                Assert.False(waiting.IsCompleted, "the write did not wait for room in the child's full ring");
                await pipe.ReceiveEnded.WaitAsync(s_timeout); // the refusal is deferred behind 40 000 unread bytes

                // No drain timeout: the round 22 disposal completed the input pipe past the refusal, so nothing reset, and
                // it waited for the drain (5 s by default; here for ever, so this wait timed out).
                await pipe.DisposeAsync(Timeout.InfiniteTimeSpan).AsTask().WaitAsync(s_timeout);

                var peerReceived = AssertPeerLearnedOfTheReset(child, expectedReceived: null);
                Assert.InRange(peerReceived, 1, Ring); // what fitted in its ring; the rest was dropped with the connection
                var refused = await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await waiting);
                Assert.Equal(Large, refused.MessageLength);
                Assert.Same(refused, pipe.ResetError);
            }
            finally
            {
                await pipe.DisposeAsync();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_DuplexPipeStream_counts_no_queued_bytes_after_a_reset_neither_the_dropped_ones_nor_a_later_writes()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host, limit: Limit);
        using (child)
        {
            var pipe = (IicDuplexPipe)channel.AsDuplexPipe();
            var stream = new DuplexPipeStream(pipe);
            try
            {
                // What fits goes straight into the child's ring; the rest waits in the output pipe, counted as queued.
                var waiting = stream.WriteAsync(new byte[8 * Ring]);
                Assert.False(waiting.IsCompleted, "the write did not wait for room in the child's full ring");
                Assert.InRange(pipe.QueuedBytes, 1, 8 * Ring);

                var buffer = new byte[Count * Size + 1];
                var filled = 0;
                ReceiveLimitExceededException? refused = null;
                while (refused is null)
                {
                    try
                    {
                        var length = await stream.ReadAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(s_timeout);
                        Assert.True(length > 0, $"the stream ended after {filled} bytes instead of reporting the refused message");
                        filled += length;
                    }
                    catch (ReceiveLimitExceededException e)
                    {
                        refused = e;
                    }
                }
                Assert.Equal(Count * Size, filled);
                await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await waiting);

                // The reset dropped the queued bytes: none is queued any more (the round 22 count kept them for good).
                await pipe.SendEnded.WaitAsync(s_timeout);
                Assert.Equal(0, pipe.QueuedBytes);

                // A write after the reset fails and leaves the count alone (round 22 added its length each time).
                Assert.Same(refused, Assert.Throws<ReceiveLimitExceededException>(() => stream.Write(new byte[Greeting])));
                Assert.Equal(0, pipe.QueuedBytes);
                Assert.Same(refused, await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await stream.WriteAsync(new byte[Greeting])));
                Assert.Equal(0, pipe.QueuedBytes);
                AssertPeerLearnedOfTheReset(child, expectedReceived: null);
            }
            finally
            {
                await stream.DisposeAsync();
            }
            Assert.Throws<ObjectDisposedException>(() => stream.Write(new byte[Greeting]));
            Assert.Equal(0, pipe.QueuedBytes);
            child.AssertExit(0);
        }
    }

    private static (ChildProcess Child, IicChannel Channel) StartSender(PartitionHost host, int? limit, params string[] more)
    {
        var options = limit is { } l ? new ChannelOptions { MaxReceiveMessageLength = l } : null;
        var (child, channels) = host.StartChild("refusal-sender", Ring, 1, options,
            [Count.ToString(CultureInfo.InvariantCulture), Size.ToString(CultureInfo.InvariantCulture), Large.ToString(CultureInfo.InvariantCulture), .. more]);
        return (child, channels[0]);
    }

    /// <summary>
    /// The peer's large send, and its next one, ended with IicChannelClosedException; then it received what this side sent
    /// (<paramref name="expectedReceived"/> bytes when given). Returns what it received.
    /// </summary>
    private static long AssertPeerLearnedOfTheReset(ChildProcess child, int? expectedReceived)
    {
        Assert.Equal("send ended: closed", child.ReadLine(s_timeout));
        Assert.Equal("next send: closed", child.ReadLine(s_timeout));
        var line = child.ReadLine(s_timeout);
        Assert.StartsWith("received ", line, StringComparison.Ordinal);
        var received = long.Parse(line.AsSpan("received ".Length), CultureInfo.InvariantCulture);
        if (expectedReceived is { } expected)
        {
            Assert.Equal(expected, received);
        }
        return received;
    }
}
