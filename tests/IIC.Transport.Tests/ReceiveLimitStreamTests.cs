using System.IO.Pipelines;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// The receive limit seen through the byte-stream adapters (docs/window-layout.md 2.4, "Receive limit"): a refused
/// message is a gap in the byte stream, so the Stream's and the duplex pipe's reads deliver the bytes before it, then fail
/// with ReceiveLimitExceededException and keep failing; the message after it never reaches the reader (it would be
/// misframed). The oversized message is a real peer's: a child process echoes what this side sends with a raw Send.
/// </summary>
public class ReceiveLimitStreamTests
{
    private const int Ring = 64 * 1024; // a record holds just under 16 KiB
    private const int Limit = 256 * 1024;
    private const int Oversized = (8 << 20) + 3;
    private const int Before = 100_000; // fragmented on this ring, within the limit
    private const int After = 1000; // one record: it fits the child's ring whatever the child is doing
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task A_Stream_reads_the_bytes_before_a_refused_message_then_fails_for_good_and_never_returns_the_bytes_after_it()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("transport-echo", Ring, 1, new ChannelOptions { MaxReceiveMessageLength = Limit }, "receive-send");
        using (child)
        {
            var channel = channels[0];
            var stream = channel.AsStream();
            try
            {
                var sender = SendBeforeOversizedAfter(channel);
                var expected = new byte[Before];
                PatternedMessage.Fill(expected, 1);
                var received = new byte[Before + 1]; // room for a byte too many: the read after the last one must fail, not return it
                var filled = 0;
                ReceiveLimitExceededException? refused = null;
                while (refused is null)
                {
                    var read = stream.ReadAsync(received.AsMemory(filled, Math.Min(4096, Before - filled + 1)));
                    try
                    {
                        var length = await read.AsTask().WaitAsync(s_timeout);
                        Assert.True(length > 0, $"the stream ended after {filled} bytes instead of reporting the refused message");
                        filled += length;
                        Assert.True(filled <= Before, $"{filled} bytes read: more than the {Before} sent before the refused message");
                    }
                    catch (ReceiveLimitExceededException e)
                    {
                        refused = e;
                    }
                }
                Assert.Equal(Before, filled); // every byte before the gap, in order
                Assert.True(received.AsSpan(0, Before).SequenceEqual(expected), "the bytes before the refused message differ from what was sent");
                Assert.Equal(Oversized, refused.MessageLength);
                Assert.Equal(Limit, refused.Limit);
                await sender.WaitAsync(s_timeout); // the child has everything: its echo of the last message waits behind the gap

                // The read direction is over: async reads fail in their task (not thrown at the caller), sync reads too,
                // and the bytes after the gap never arrive (the old stream returned them, misframed, from the next read).
                var buffer = new byte[After];
                for (var i = 0; i < 3; i++)
                {
                    var again = stream.ReadAsync(buffer);
                    Assert.True(again.IsFaulted, "a ReadAsync after the refusal did not return a faulted task");
                    var e = await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await again);
                    Assert.Equal(Oversized, e.MessageLength);
                }
                Assert.Throws<ReceiveLimitExceededException>(() => stream.Read(buffer));
                Assert.Throws<ReceiveLimitExceededException>(() => stream.ReadByte());
                var statistics = channel.GetStatistics();
                Assert.Equal(1, statistics.MessagesRefused);
                Assert.Equal(1, statistics.MessagesReceived); // the message before it; nothing after
                Assert.Equal(0, statistics.Faults);
            }
            finally
            {
                stream.Dispose(); // the refusal already closed the channel (round 21): the child's echo behind the gap ended then
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_duplex_pipe_input_fails_at_a_refused_message_and_never_returns_the_bytes_after_it()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("transport-echo", Ring, 1, new ChannelOptions { MaxReceiveMessageLength = Limit }, "receive-send");
        using (child)
        {
            var channel = channels[0];
            var input = channel.AsDuplexPipe().Input;
            try
            {
                var sender = SendBeforeOversizedAfter(channel);
                var expected = new byte[Before];
                PatternedMessage.Fill(expected, 1);
                var filled = 0;
                ReceiveLimitExceededException? refused = null;
                while (refused is null)
                {
                    try
                    {
                        var result = await input.ReadAsync().AsTask().WaitAsync(s_timeout);
                        Assert.False(result.IsCompleted && result.Buffer.IsEmpty, $"the input ended after {filled} bytes instead of reporting the refused message");
                        foreach (var segment in result.Buffer)
                        {
                            Assert.True(filled + segment.Length <= Before, $"{filled + segment.Length} bytes read: more than the {Before} sent before the refused message");
                            Assert.True(segment.Span.SequenceEqual(expected.AsSpan(filled, segment.Length)), $"the bytes at {filled} differ from the message before the refused one");
                            filled += segment.Length;
                        }
                        input.AdvanceTo(result.Buffer.End);
                    }
                    catch (ReceiveLimitExceededException e)
                    {
                        refused = e;
                    }
                }
                Assert.Equal(Oversized, refused.MessageLength);
                Assert.Equal(Limit, refused.Limit);
                await sender.WaitAsync(s_timeout);

                // The input stays failed (a completed pipe): the bytes after the gap never reach the reader.
                await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await input.ReadAsync());
                Assert.Throws<ReceiveLimitExceededException>(() => input.TryRead(out _));
                Assert.Equal(1, channel.GetStatistics().MessagesRefused);
                Assert.Equal(1, channel.GetStatistics().MessagesReceived); // the message before it; nothing after
            }
            finally
            {
                await input.CompleteAsync();
                channel.Dispose(); // the refusal already reset the pipe's channel (round 21): the child's echo behind the gap ended then
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    /// <summary>
    /// Sends, with raw channel sends on a thread of its own: a message within the limit (index 1), one over it, and a small
    /// one (index 3). The child echoes each, so this side receives them in that order.
    /// </summary>
    private static Task SendBeforeOversizedAfter(IicChannel channel) => Task.Factory.StartNew(() =>
    {
        var before = new byte[Before];
        PatternedMessage.Fill(before, 1);
        var oversized = new byte[Oversized];
        PatternedMessage.Fill(oversized, 2);
        var after = new byte[After];
        PatternedMessage.Fill(after, 3);
        channel.Send(before);
        channel.Send(oversized);
        try
        {
            channel.Send(after);
        }
        catch (ObjectDisposedException)
        {
            // The adapter met the refused echo first and reset the connection (round 21: ReceiveLimitResetTests).
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
