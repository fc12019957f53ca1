using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17, round 21 (RoleGate.ReplyHint): a send that answers a receive made on the same thread takes the line its
/// message goes into before its checks. The hint must be set only by a receive on the send owner's thread (a receive on
/// another thread must not write the send side's line), taken by the next send, and the early store must never touch a
/// record: an echo over a small ring, many laps, every byte checked.
/// </summary>
public sealed class ReplyHintTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public void A_receive_on_the_send_owners_thread_sets_the_hint_and_the_next_send_takes_it()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            var buffer = new byte[8];
            b.Send([0]); // b's send role gets its owner: this thread
            a.Send([1]);
            a.Send([2]);
            Assert.False(b.ReplyHintPending);
            Assert.True(b.TryReceive(buffer, out _, s_bound));
            Assert.True(b.ReplyHintPending, "a receive on the send owner's thread did not set the hint");
            b.Send([3]);
            Assert.False(b.ReplyHintPending, "the send did not take the hint");
            b.Send([4]);
            Assert.False(b.ReplyHintPending);

            // A receive on another thread (not the send owner) leaves the send side's line alone.
            var other = new Thread(() => b.TryReceive(new byte[8], out _, s_bound));
            other.Start();
            Assert.True(other.Join(s_bound));
            Assert.False(b.ReplyHintPending, "a receive on another thread set the send owner's hint");
            for (var i = 0; i < 3; i++)
            {
                Assert.True(a.TryReceive(buffer, out _, s_bound));
            }
        }
    }

    [Fact]
    public void An_echo_whose_every_send_answers_a_receive_delivers_every_byte_over_many_laps_of_a_small_ring()
    {
        // 4 KiB rings: 64 lines, so 20 000 round trips of 1 to 3 lines lap each ring hundreds of times; the early store
        // goes into the line at the tail before every reply, including at the wrap and with the ring nearly full.
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
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
                    for (var i = 0; i < RoundTrips; i++)
                    {
                        Assert.True(server.TryReceive(buffer, out var length, s_bound), $"request {i} did not arrive");
                        server.Send(buffer.AsSpan(0, length));
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failure = e;
                }
            });
            echo.Start();
            var reply = new byte[256];
            for (var i = 0; i < RoundTrips && failure is null; i++)
            {
                var request = new byte[1 + ((i * 37) % 180)];
                PatternedMessage.Fill(request, i);
                client.Send(request);
                Assert.True(client.TryReceive(reply, out var length, s_bound), $"reply {i} did not arrive");
                Assert.True(reply.AsSpan(0, length).SequenceEqual(request), $"reply {i} differs from its request");
            }
            Assert.True(echo.Join(s_bound), "the echo thread finished");
            Assert.Null(failure);
        }
    }
}
