using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// The receive limit through the byte-stream adapters, round 21 (docs/window-layout.md 2.4, "Receive limit"): the duplex
/// pipe's reader gets every byte that arrived before a refused message, even bytes it had not read when the refusal
/// happened, and only then the ReceiveLimitExceededException; and once an adapter has failed for good at a refusal it
/// resets the connection, so the peer's send waiting behind the refused message ends with IicChannelClosedException
/// instead of waiting until this side is disposed. The peer is a child process ("refusal-sender"): small messages, then
/// one raw Send over this side's limit, then one more send; it prints how each send ended and what it received after.
/// </summary>
public class ReceiveLimitResetTests
{
    private const int Ring = 64 * 1024; // a record holds just under 16 KiB: the oversized message is fragmented
    private const int Limit = 256 * 1024;
    private const int Oversized = (8 << 20) + 3;
    private const int Count = 40;
    private const int Size = 1000; // 40 000 bytes before the refused message: under the input pipe's pause threshold
    private const int Greeting = 100; // what this side sends before it reads: the peer must get it despite the reset
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task A_duplex_pipe_reader_that_reads_only_after_the_refusal_gets_every_byte_before_it_then_the_refusal()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var pipe = (IicDuplexPipe)channel.AsDuplexPipe();
            try
            {
                // The deterministic signal that everything happened before the first read: the receive thread exits at
                // the refusal, after it put every byte before it into the input pipe (counted, traced, not yet read).
                await pipe.ReceiveEnded.WaitAsync(s_timeout);
                var statistics = channel.GetStatistics();
                Assert.Equal(1, statistics.MessagesRefused);
                Assert.Equal(Count, statistics.MessagesReceived);

                // A reader of whole Size-byte frames; the old input threw at this first read and the 40 000 bytes were lost.
                var (received, refused) = await ReadFramesUntilRefused(pipe.Input, Size);
                Assert.Equal(Count * Size, received.Length);
                AssertMessages(received, Size);
                Assert.Equal(Oversized, refused.MessageLength);
                Assert.Equal(Limit, refused.Limit);

                // Failed for good: later reads throw it too.
                await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await pipe.Input.ReadAsync());
                Assert.Throws<ReceiveLimitExceededException>(() => pipe.Input.TryRead(out _));
                AssertPeerLearnedOfTheReset(child, expectedReceived: 0);
            }
            finally
            {
                channel.Dispose();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_duplex_pipe_reader_that_examined_only_part_of_the_rest_is_handed_it_again_and_the_refusal_only_once_it_examined_all()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var pipe = (IicDuplexPipe)channel.AsDuplexPipe();
            try
            {
                await pipe.ReceiveEnded.WaitAsync(s_timeout); // every byte before the refusal is in the input pipe
                var first = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                Assert.Equal(Count * Size, first.Buffer.Length);
                Assert.False(first.IsCompleted);
                pipe.Input.AdvanceTo(first.Buffer.Start, first.Buffer.GetPosition(10)); // consumed nothing, examined 10 bytes

                // PipeReader's contract: what was not examined is handed out again at once (before, this read threw).
                var again = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                Assert.Equal(Count * Size, again.Buffer.Length);
                Assert.False(again.IsCompleted);
                AssertMessages(again.Buffer.ToArray(), Size);
                pipe.Input.AdvanceTo(again.Buffer.Start, again.Buffer.End); // examined all of it, consumed none: it waits for more

                await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await pipe.Input.ReadAsync());
                AssertPeerLearnedOfTheReset(child, expectedReceived: 0);
            }
            finally
            {
                channel.Dispose();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_duplex_pipe_that_fails_at_a_refusal_resets_the_connection_so_the_peers_waiting_send_ends_and_what_it_was_sent_arrives()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var pipe = channel.AsDuplexPipe();
            try
            {
                await pipe.Output.WriteAsync(Greeting1()).AsTask().WaitAsync(s_timeout);

                // Frames of 1.5 messages: the last 500 bytes before the refusal are a frame's start the reader examines
                // and never consumes. It is handed them again, consumes nothing, and then gets the refusal (no busy loop).
                var frame = Size * 3 / 2;
                var (received, refused) = await ReadFramesUntilRefused(pipe.Input, frame);
                Assert.Equal(Count * Size / frame * frame, received.Length);
                AssertMessages(received, Size);
                Assert.Equal(Oversized, refused.MessageLength);

                // The peer's send of the refused message waited for room in a ring no one reads any more; the old pipe
                // left it waiting until this side was disposed (this read would time out). The greeting got there.
                AssertPeerLearnedOfTheReset(child, expectedReceived: Greeting);
                Assert.Equal(1, channel.GetStatistics().MessagesRefused);

                // This side's writes fail with the refusal now (the old pipe's went on; an aborted one's report "the peer closed").
                var write = await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await pipe.Output.WriteAsync(Greeting1()));
                Assert.Equal(Oversized, write.MessageLength);
            }
            finally
            {
                channel.Dispose();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_Stream_that_fails_at_a_refusal_resets_the_connection_so_the_peers_waiting_send_ends_and_its_own_writes_fail_with_the_refusal()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var stream = channel.AsStream();
            try
            {
                stream.Write(Greeting1().Span);
                var (received, filled, refused) = await ReadStreamUntilRefused(stream);
                Assert.Equal(Count * Size, filled);
                AssertMessages(received.AsSpan(0, filled).ToArray(), Size);
                Assert.Equal(Oversized, refused.MessageLength);

                // The old stream kept the channel open: the peer's send stayed behind the refused message until Dispose.
                AssertPeerLearnedOfTheReset(child, expectedReceived: Greeting);

                // This side's writes fail with the refusal now (before, they went on into a connection no one would read).
                var write = Assert.Throws<ReceiveLimitExceededException>(() => stream.Write(Greeting1().Span));
                Assert.Equal(Oversized, write.MessageLength);
                var writeAsync = stream.WriteAsync(Greeting1());
                Assert.True(writeAsync.IsFaulted, "a WriteAsync after the reset did not return a faulted task");
                await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await writeAsync);
                var read = stream.ReadAsync(received);
                Assert.True(read.IsFaulted, "a ReadAsync after the reset did not return a faulted task");
                await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await read);
                Assert.Equal(1, channel.GetStatistics().MessagesRefused);
            }
            finally
            {
                stream.Dispose();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_duplex_pipe_whose_application_completes_its_input_after_a_refusal_arrived_resets_the_connection_at_once()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var pipe = (IicDuplexPipe)channel.AsDuplexPipe();
            try
            {
                await pipe.Output.WriteAsync(Greeting1()).AsTask().WaitAsync(s_timeout);
                await pipe.ReceiveEnded.WaitAsync(s_timeout); // the refusal waits behind 40 000 bytes not yet read
                var first = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                pipe.Input.AdvanceTo(first.Buffer.GetPosition(Size)); // one message, then the application stops reading
                pipe.Input.Complete();

                // No read will ever meet the refusal: the old pipe reset nothing, and the child's send waited behind it
                // until this side was disposed (this read timed out after 30 s). Completing the input reset the connection.
                AssertPeerLearnedOfTheReset(child, expectedReceived: Greeting);

                // From the moment Complete returned, the output fails with the refusal.
                var refused = await AssertFailsAtOnce(() => pipe.Output.FlushAsync(), "a flush after the input's Complete");
                Assert.Equal(Oversized, refused.MessageLength);
            }
            finally
            {
                channel.Dispose();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_duplex_pipe_whose_application_completed_its_input_before_a_refusal_arrived_resets_the_connection_when_it_arrives()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host, count: 0); // the oversized message comes first
        using (child)
        {
            var pipe = new IicDuplexPipe(channel);
            try
            {
                pipe.Input.Complete(); // before the receive thread starts: it meets the refusal with nobody left to read it
                pipe.Start();

                // The old receive thread deferred the refusal to a read that never came: the child's send waited until this
                // side was disposed. Now the receive thread resets the connection itself.
                AssertPeerLearnedOfTheReset(child, expectedReceived: 0);
                await pipe.ReceiveEnded.WaitAsync(s_timeout);
                Assert.Equal(1, channel.GetStatistics().MessagesRefused);
                var write = await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await pipe.Output.WriteAsync(Greeting1()));
                Assert.Equal(Oversized, write.MessageLength);
            }
            finally
            {
                await pipe.DisposeAsync();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_duplex_pipe_flush_waiting_for_room_has_failed_with_the_refusal_when_the_read_that_reports_it_returns_and_so_does_every_later_flush()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var pipe = (IicDuplexPipe)channel.AsDuplexPipe();
            try
            {
                // The child reads nothing until its sends end: the output fills the child's ring and the rest, over the
                // output's pause threshold, waits in the pipe, so this write's flush waits for room.
                var backlog = 8 * Ring;
                var waiting = pipe.Output.WriteAsync(new byte[backlog]);
                Assert.False(waiting.IsCompleted, "the write did not wait for room in the child's full ring");

                await pipe.ReceiveEnded.WaitAsync(s_timeout); // every byte before the refusal is in the input pipe
                var (received, refused) = await ReadFramesUntilRefused(pipe.Input, Size);
                Assert.Equal(Count * Size, received.Length);

                // Checked on the thread the read returned on, before anything else: the round 21 pipe completed the waiting
                // flush only once the room waiter thread and then the thread pool had ended the send loop, so the flush was
                // still pending here, and a flush made now succeeded.
                Assert.True(waiting.IsCompleted, "the flush waiting for room had not ended when the read that reported the refusal returned");
                Assert.Same(refused, await AssertFailsAtOnce(() => pipe.Output.FlushAsync(), "a flush after the read that reported the refusal"));
                Assert.Same(refused, await AssertFailsAtOnce(() => pipe.Output.WriteAsync(Greeting1()), "a write after the read that reported the refusal"));
                Assert.Same(refused, await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await waiting));

                // The child received what fitted in its ring before the reset (the rest was dropped with the connection).
                var peerReceived = AssertPeerLearnedOfTheReset(child, expectedReceived: null);
                Assert.InRange(peerReceived, 1, Ring);
            }
            finally
            {
                channel.Dispose();
            }
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_Stream_WriteAsync_waiting_for_room_has_failed_with_the_refusal_when_the_read_that_reports_it_returns()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = StartSender(host);
        using (child)
        {
            var stream = channel.AsStream();
            try
            {
                // The child reads nothing until its sends end: this write fills its ring and waits for room.
                var waiting = stream.WriteAsync(new byte[8 * Ring]);
                Assert.False(waiting.IsCompleted, "the write did not wait for room in the child's full ring");

                var (received, filled, refused) = await ReadStreamUntilRefused(stream);
                Assert.Equal(Count * Size, filled);

                // Checked on the thread the read returned on: the round 21 stream's write ended only once the room waiter
                // and the thread pool had run it (with the refusal, a moment later).
                Assert.True(waiting.IsCompleted, "the WriteAsync waiting for room had not ended when the read that reported the refusal returned");
                Assert.Same(refused, await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await waiting));
                var peerReceived = AssertPeerLearnedOfTheReset(child, expectedReceived: null);
                Assert.InRange(peerReceived, 1, Ring);
            }
            finally
            {
                stream.Dispose();
            }
            child.AssertExit(0);
        }
    }

    private static (ChildProcess Child, IicChannel Channel) StartSender(PartitionHost host, int count = Count)
    {
        var (child, channels) = host.StartChild("refusal-sender", Ring, 1, new ChannelOptions { MaxReceiveMessageLength = Limit },
            count.ToString(CultureInfo.InvariantCulture), Size.ToString(CultureInfo.InvariantCulture), Oversized.ToString(CultureInfo.InvariantCulture));
        return (child, channels[0]);
    }

    private static ReadOnlyMemory<byte> Greeting1() => new byte[Greeting];

    /// <summary>A flush or write that has failed with the refusal by the time it returns: thrown, or handed out faulted.</summary>
    private static async Task<ReceiveLimitExceededException> AssertFailsAtOnce(Func<ValueTask<FlushResult>> flush, string what)
    {
        ValueTask<FlushResult> task;
        try
        {
            task = flush();
        }
        catch (ReceiveLimitExceededException e)
        {
            return e;
        }
        Assert.True(task.IsCompleted, what + " did not fail at once");
        return await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await task);
    }

    /// <summary>Reads <paramref name="stream"/> until a read fails with the refusal: the bytes before it (into room for a byte more than the messages, so the read after the last one must fail), their count, the refusal.</summary>
    private static async Task<(byte[] Received, int Filled, ReceiveLimitExceededException Refused)> ReadStreamUntilRefused(Stream stream)
    {
        var received = new byte[Count * Size + 1];
        var filled = 0;
        while (true)
        {
            try
            {
                var length = await stream.ReadAsync(received.AsMemory(filled)).AsTask().WaitAsync(s_timeout);
                Assert.True(length > 0, $"the stream ended after {filled} bytes instead of reporting the refused message");
                filled += length;
            }
            catch (ReceiveLimitExceededException e)
            {
                return (received, filled, e);
            }
        }
    }

    /// <summary>
    /// Reads like a framed protocol: consumes whole frames of <paramref name="frame"/> bytes, examines the rest, until the
    /// refusal. No result may say IsCompleted (a refusal is not a clean end).
    /// </summary>
    private static async Task<(byte[] Received, ReceiveLimitExceededException Refused)> ReadFramesUntilRefused(PipeReader input, int frame)
    {
        var received = new List<byte>();
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync().AsTask().WaitAsync(s_timeout);
            }
            catch (ReceiveLimitExceededException e)
            {
                return (received.ToArray(), e);
            }
            Assert.False(result.IsCompleted, $"the input said it completed after {received.Count} bytes instead of reporting the refused message");
            var buffer = result.Buffer;
            var whole = buffer.Length / frame * frame;
            received.AddRange(buffer.Slice(0, whole).ToArray());
            Assert.True(received.Count <= Count * Size, $"{received.Count} bytes read: more than the {Count * Size} sent before the refused message");
            input.AdvanceTo(buffer.GetPosition(whole), buffer.End);
        }
    }

    private static void AssertMessages(byte[] received, int size)
    {
        for (var i = 0; i * size < received.Length; i++)
        {
            var message = received.AsSpan(i * size, Math.Min(size, received.Length - (i * size)));
            if (message.Length == size)
            {
                Assert.Null(Pattern.Check(message, i));
            }
        }
    }

    /// <summary>
    /// The peer's send of the refused message, and its next one, ended with IicChannelClosedException; then it received
    /// what this side sent (<paramref name="expectedReceived"/> bytes when given). Returns what it received.
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
