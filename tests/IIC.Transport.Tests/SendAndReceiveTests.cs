using System.Runtime.Intrinsics.X86;
using IIC.Hardware;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 25): <see cref="IicChannel.SendAndReceive(ReadOnlySpan{byte}, Span{byte})"/> sends and then receives
/// the answer, looking for it with the fenced spin (WindowEndpoint.ReplySpin.cs). What must hold: every byte of a
/// busy-spinning request/reply delivered across the ring's laps, on both sides, with the reply's memory reused for the
/// next request; what is refused before anything is sent (too long, disposed, cancelled, in a group: GroupWaitAloneTests)
/// and what is thrown after the send (an answer too large, a cancelled wait, the peer's close, another reader); the
/// conversion of fenced looks for the reply-line threshold. Across processes: CrossProcessTests ("send-and-receive").
/// </summary>
public sealed class SendAndReceiveTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public void The_reply_spin_is_fenced_on_x86_unless_switched_off()
    {
        var switchedOff = Environment.GetEnvironmentVariable("IIC_REPLY_SPIN_FENCE") == "0";
        Assert.Equal(Sse2.IsSupported && !switchedOff, WindowEndpoint.FencedReplySpin);
    }

    [Fact]
    public void Fourteen_fenced_looks_and_more_count_as_the_reply_lines_six_paused_looks()
    {
        var threshold = IicChannel.DefaultReplyLineMinLooks;
        for (var looks = 1; looks < 14; looks++)
        {
            Assert.True(WindowEndpoint.AsPausedLooks(looks) < threshold, $"{looks} fenced looks took the reply's line: the near placement's wait");
        }
        for (var looks = 14; looks <= WindowEndpoint.SpinForReplyFencedLooks; looks++)
        {
            Assert.True(WindowEndpoint.AsPausedLooks(looks) >= threshold, $"{looks} fenced looks left the reply's line: the far placement's wait");
            Assert.True(WindowEndpoint.AsPausedLooks(looks) >= WindowEndpoint.AsPausedLooks(looks - 1), "the count never falls as the wait grows");
        }
    }

    [Fact]
    public void A_busy_spinning_request_reply_delivers_every_byte_on_both_sides_over_many_laps()
    {
        // Busy-spinning channels start their waits with the clock-free spin, and the peer's answer, a few hundred ns
        // away, lands during it: most of these receives see their message through the fenced look. 4 KiB rings: every
        // size of 1 to 3 lines laps each ring hundreds of times.
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.BusySpin });
        using (client)
        using (server)
        {
            const int RoundTrips = 20_000;
            Exception? failure = null;
            var echo = new Thread(() =>
            {
                try
                {
                    var buffer = new byte[256];
                    var length = server.Receive(buffer);
                    for (var i = 1; i < RoundTrips; i++)
                    {
                        length = server.SendAndReceive(buffer.AsSpan(0, length), buffer); // the reply's memory takes the next request
                    }
                    server.Send(buffer.AsSpan(0, length));
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failure = e;
                }
            });
            echo.Start();
            var request = new byte[256];
            var reply = new byte[256];
            for (var i = 0; i < RoundTrips && failure is null; i++)
            {
                var size = 1 + ((i * 37) % 180);
                PatternedMessage.Fill(request.AsSpan(0, size), i);
                var length = client.SendAndReceive(request.AsSpan(0, size), reply);
                Assert.Equal(size, length);
                Assert.True(reply.AsSpan(0, length).SequenceEqual(request.AsSpan(0, size)), $"reply {i} differs from its request");
            }
            Assert.True(echo.Join(s_bound), "the echo thread finished");
            Assert.Null(failure);
            Assert.Equal((RoundTrips, RoundTrips), (client.GetStatistics().MessagesSent, client.GetStatistics().MessagesReceived));
        }
    }

    [Fact]
    public void What_is_refused_before_the_send_sends_nothing()
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (server)
        {
            var answer = new byte[64];
            var tooLong = new byte[IicChannel.MaxMessageLength + 1];
            Assert.Throws<ArgumentOutOfRangeException>(() => client.SendAndReceive(tooLong, answer));
            using var cancelled = new CancellationTokenSource();
            cancelled.Cancel();
            Assert.Throws<OperationCanceledException>(() => client.SendAndReceive([1, 2, 3], answer, cancelled.Token));
            Assert.Equal(0, client.GetStatistics().MessagesSent);
            Assert.False(server.TryReceive(answer, out _), "something was sent");

            client.Dispose();
            Assert.Throws<ObjectDisposedException>(() => client.SendAndReceive([1, 2, 3], answer));
            Assert.Throws<ObjectDisposedException>(() => client.SendAndReceive([1, 2, 3], answer, new CancellationTokenSource().Token));
        }
    }

    [Fact]
    public void An_answer_too_large_is_thrown_after_the_send_and_stays_unread()
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (client)
        using (server)
        {
            var answering = AnswerOnce(server, new byte[100]);
            var e = Assert.Throws<MessageTooLargeException>(() => client.SendAndReceive([7, 7, 7], new byte[10]));
            Assert.Contains("100", e.Message, StringComparison.Ordinal);
            Assert.True(answering.Join(s_bound));
            var answer = new byte[100];
            Assert.Equal(100, client.Receive(answer)); // the answer stayed unread
        }
    }

    [Fact]
    public async Task A_cancelled_wait_for_the_answer_throws_after_the_message_was_sent_and_the_answer_comes_next()
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (client)
        using (server)
        {
            using var cancellation = new CancellationTokenSource();
            var call = Task.Factory.StartNew(
                () => client.SendAndReceive([1, 2, 3], new byte[16], cancellation.Token),
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            var request = new byte[16];
            Assert.True(server.TryReceive(request, out var length, s_bound), "the request was sent");
            Assert.Equal(3, length);
            cancellation.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(s_bound));
            server.Send([4, 5]);
            Assert.Equal(2, client.Receive(new byte[16])); // the late answer is the next message
        }
    }

    [Fact]
    public void A_peer_that_closes_instead_of_answering_ends_the_call_with_IicChannelClosedException()
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (client)
        {
            var closing = new Thread(() =>
            {
                server.Receive(new byte[16]);
                server.Dispose();
            });
            closing.Start();
            Assert.Throws<IicChannelClosedException>(() => client.SendAndReceive([1], new byte[16]));
            Assert.True(closing.Join(s_bound));
        }
    }

    [Fact]
    public async Task Another_reader_on_a_SingleReader_channel_is_refused_after_the_send()
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, SingleReader = true });
        using (client)
        using (server)
        {
            var reader = Task.Factory.StartNew(() => client.Receive(new byte[16]), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            WaitFor.Condition(() => client.GetStatistics().Wait.Parks >= 1 || reader.IsCompleted, "the other reader waits");
            Assert.Throws<InvalidOperationException>(() => client.SendAndReceive([9], new byte[16]));
            var request = new byte[16];
            Assert.True(server.TryReceive(request, out var length, s_bound), "the request was sent");
            Assert.Equal((1, (byte)9), (length, request[0]));
            server.Send([1, 1]);
            Assert.Equal(2, await reader.WaitAsync(s_bound));
        }
    }

    /// <summary>A thread that receives one request on <paramref name="server"/> and sends <paramref name="answer"/>.</summary>
    private static Thread AnswerOnce(IicChannel server, byte[] answer)
    {
        var thread = new Thread(() =>
        {
            server.Receive(new byte[64]);
            server.Send(answer);
        });
        thread.Start();
        return thread;
    }
}
