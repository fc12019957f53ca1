using IIC.Hardware;
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

    /// <summary>Where the early store for <paramref name="channel"/>'s next record goes: the last word of the line at its send tail.</summary>
    private static long ReplyOwnWord(IicChannel channel)
    {
        var endpoint = channel.Endpoint;
        var ring = endpoint.Window.GetRing(endpoint.Side);
        return ring.Offset + DescriptorRing.DataOffset + (endpoint.SendPosition & (ring.Capacity - 1)) + RingWriter.OwnWordOffset;
    }

    /// <summary>A pair whose channels take the reply's line after receives that waited at least <paramref name="minLooks"/> looks (0: after every receive).</summary>
    private static (IicChannel A, IicChannel B) PairTakingTheLineAfter(int minLooks)
    {
        var old = IicChannel.ReplyLineMinLooks;
        IicChannel.ReplyLineMinLooks = minLooks; // read when a channel is made; a channel of another test made meanwhile only stores earlier, always safely
        try
        {
            return IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        }
        finally
        {
            IicChannel.ReplyLineMinLooks = old;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_receive_on_the_send_owners_thread_takes_the_reply_line_before_any_send_only_after_a_wait(bool everyReceive)
    {
        // Round 22: the copy-out receive itself makes the early store into the line the next send's record goes to (the
        // peer polls it, waiting for the reply), when the message came after a wait of ReplyLineMinLooks looks or more.
        // Free space holds anything but its line starts, so a marker in that line's last word shows whether the store was
        // made: round 21's receive only set the hint, leaving the marker. Here the message is there at once (0 looks): with
        // the default threshold the receive leaves the line alone; with 0 it takes it. A receive on another thread never.
        const int Marker = 0x5A5A5A5A;
        var (a, b) = PairTakingTheLineAfter(everyReceive ? 0 : IicChannel.DefaultReplyLineMinLooks);
        using (a)
        using (b)
        {
            var memory = b.Endpoint.Window.Memory;
            var buffer = new byte[8];
            b.Send([0]); // b's send role gets its owner: this thread
            a.Send([1]);
            a.Send([2]);
            var word = ReplyOwnWord(b);

            memory.WriteReleaseInt32(word, Marker);
            var other = new Thread(() => b.TryReceive(new byte[8], out _, s_bound));
            other.Start();
            Assert.True(other.Join(s_bound));
            Assert.Equal(Marker, memory.ReadAcquireInt32(word)); // not the send owner's thread: nothing stored on the send side

            Assert.True(b.TryReceive(buffer, out var length, s_bound));
            Assert.Equal(1, length);
            Assert.Equal(2, buffer[0]);
            Assert.Equal(everyReceive ? 0 : Marker, memory.ReadAcquireInt32(word)); // the owner's receive took the reply's line (or, at once, not)
            Assert.True(b.ReplyHintPending); // and the send's own early store is hinted either way
            Assert.Equal(word, ReplyOwnWord(b)); // nothing sent

            b.Send([3]);
            Assert.True(a.TryReceive(buffer, out _, s_bound));
            Assert.True(a.TryReceive(buffer, out _, s_bound));
            Assert.Equal(3, buffer[0]);
        }
    }

    [Fact]
    public void Receives_on_the_send_owners_thread_never_store_into_a_record_another_thread_is_sending()
    {
        // The early store at the receive reads the writer's tail, so it is made inside the send role: while another thread
        // sends on the same channel (the owner's bias revoked, or the holder word taken), the owner's receives store
        // nothing. Made outside the role, a receive racing a send zeroed the last word of the line that send was filling
        // (bytes 48-51 of a 60-byte message). Two threads on b: the owner receives what a sends, another sends patterned
        // 60-byte messages; a checks every one of them over many laps of a 4 KiB ring.
        const int Requests = 20_000;
        const int Messages = 20_000;
        var (a, b) = PairTakingTheLineAfter(0); // after every receive: as many stores as there are receives
        using (a)
        using (b)
        {
            Exception? failure = null;
            void Run(Action body)
            {
                try
                {
                    body();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failure ??= e;
                }
            }

            var owner = new Thread(() => Run(() =>
            {
                b.Send(ReadOnlySpan<byte>.Empty); // b's send role gets its owner: this thread
                var buffer = new byte[8];
                for (var i = 0; i < Requests && failure is null; i++)
                {
                    Assert.True(b.TryReceive(buffer, out _, s_bound), $"request {i} did not arrive");
                }
            }));
            var other = new Thread(() => Run(() =>
            {
                var message = new byte[60];
                for (var i = 0; i < Messages && failure is null; i++)
                {
                    PatternedMessage.Fill(message, i);
                    b.Send(message);
                }
            }));
            var requests = new Thread(() => Run(() =>
            {
                for (var i = 0; i < Requests && failure is null; i++)
                {
                    a.Send([(byte)i]);
                }
            }));
            owner.Start();
            Assert.True(a.TryReceive(new byte[64], out var first, s_bound) && first == 0, "the owner's empty message comes first");
            other.Start();
            requests.Start();
            var received = new byte[64];
            for (var i = 0; i < Messages && failure is null; i++)
            {
                Assert.True(a.TryReceive(received, out var length, s_bound), $"message {i} did not arrive");
                Assert.Equal(60, length);
                Assert.Null(PatternedMessage.Check(received.AsSpan(0, length), i));
            }
            Assert.True(owner.Join(s_bound) && other.Join(s_bound) && requests.Join(s_bound), "the threads finished");
            Assert.Null(failure);
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
