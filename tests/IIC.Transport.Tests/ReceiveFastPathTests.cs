using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 9, branch ring): the copy-out receives (<c>TryReceive(span, out length, timeout)</c>, <c>Receive(span)</c>)
/// take a whole one-record message that fits without an exception handler (<c>WindowEndpoint.TryReceiveFast</c>,
/// <c>RingReader.TryPeekFast</c>) and hand every other case to the old path: nothing there yet (the wait), padding at
/// a wrap, fragments, a buffer too small (the message stays unread), a peer gone. Each way must deliver the same bytes
/// in order, and a receive that throws must leave the receive side.
/// </summary>
public sealed class ReceiveFastPathTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Theory]
    [InlineData(false, false)] // TryReceive(span, out length, timeout)
    [InlineData(true, false)] // Receive(span): the gate's waiting entry, then the same fast path
    [InlineData(false, true)] // with the writer cleaning the lines (IIC_WRITER_CLEANS's writer, the reader makes no clears)
    public void Every_way_through_receive_delivers_every_message_in_order(bool blockingReceive, bool writerCleans)
    {
        // A 4 KiB ring: records up to 1 KiB, so sizes from 1 B to 1.5 KiB wrap every few messages (padding), fill the
        // ring and fragment; the receiver reads some of them faster than they come (the wait) and some behind.
        const int Messages = 3000;
        var (a, b) = PatternedTraffic.CreatePair(new ChannelOptions { RingCapacity = 4096 }, writerCleans);
        using (a)
        using (b)
        {
            var failure = PatternedTraffic.Run(Messages, PatternedTraffic.MixedLength, PatternedTraffic.MixedSender(a, s_bound), (byte[] buffer, out int length) =>
            {
                if (blockingReceive)
                {
                    length = b.Receive(buffer);
                    return true;
                }
                return b.TryReceive(buffer, out length, s_bound);
            }, pauseNowAndThen: false, s_bound);
            Assert.Null(failure);
            Assert.Equal(Messages, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public void The_copy_out_writes_exactly_the_message_and_not_one_byte_past_it()
    {
        // Round 21: the fast path copies up to a line inline (SmallCopy: overlapping first and last words); every length
        // around the widths it switches on, into a larger buffer whose other bytes must stay untouched.
        const int Guard = 0xEE;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 1 << 16 });
        using (a)
        using (b)
        {
            var random = new Random(21);
            for (var length = 0; length <= 130; length++)
            {
                var message = new byte[length];
                random.NextBytes(message);
                a.Send(message);
                var buffer = new byte[length + 64];
                Array.Fill(buffer, (byte)Guard);
                Assert.True(b.TryReceive(buffer, out var received, s_bound), $"length {length}: nothing arrived");
                Assert.Equal(length, received);
                Assert.True(buffer.AsSpan(0, length).SequenceEqual(message), $"length {length}: the bytes differ");
                Assert.True(buffer.AsSpan(length).IndexOfAnyExcept((byte)Guard) < 0, $"length {length}: wrote past the message");
            }
        }
    }

    [Fact]
    public void Another_thread_receives_in_turn_after_the_owners_lean_receives()
    {
        // Round 21: TryReceive(span, out length, timeout) enters through the receive gate's lean owner entry first.
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            var buffer = new byte[8];
            for (var i = 0; i < 100; i++)
            {
                a.Send([1]);
                Assert.True(b.TryReceive(buffer, out _, s_bound));
            }
            Assert.True(b.RolesBiasedToCurrentThread.Receive, "the owner's receives kept the receive role biased");
            a.Send([2]);
            int? theirs = null;
            var other = new Thread(() =>
            {
                var mine = new byte[8];
                if (b.TryReceive(mine, out var length, s_bound) && length == 1)
                {
                    theirs = mine[0];
                }
            });
            other.Start();
            Assert.True(other.Join(s_bound), "the other thread finished");
            Assert.Equal(2, theirs);
            Assert.False(b.RolesBiasedToCurrentThread.Receive, "the other thread's receive revoked the bias");
            a.Send([3]);
            Assert.True(b.TryReceive(buffer, out var last, s_bound)); // the owner goes on through the compare-exchange
            Assert.Equal(1, last);
            Assert.Equal(3, buffer[0]);
        }
    }

    [Fact]
    public void A_buffer_too_small_leaves_the_message_unread_and_the_receive_side_free()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            a.Send(new byte[40]);
            // The fast path declines (it does not fit), the old path throws; twice, so the first left the receive side
            // (a receive side still held by this thread would make the second one a misuse error instead).
            Assert.Throws<MessageTooLargeException>(() => b.TryReceive(new byte[39], out _, TimeSpan.FromSeconds(1)));
            Assert.Throws<MessageTooLargeException>(() => b.Receive(new byte[8]));
            Assert.True(b.TryReceive(new byte[40], out var length, TimeSpan.Zero));
            Assert.Equal(40, length);
            Assert.False(b.TryReceive(new byte[40], out _, TimeSpan.Zero));
        }
    }

    [Fact]
    public void Every_message_sent_before_the_peer_closed_is_received_then_the_close_is_reported()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (b)
        {
            for (var i = 0; i < 10; i++)
            {
                a.Send([(byte)i, 1, 2]);
            }
            a.Dispose();
            var buffer = new byte[8];
            for (var i = 0; i < 10; i++)
            {
                Assert.True(b.TryReceive(buffer, out var length, s_bound)); // the fast path after the close: the peer's records are still there
                Assert.Equal(3, length);
                Assert.Equal(i, buffer[0]);
            }
            Assert.Throws<IicChannelClosedException>(() => b.TryReceive(buffer, out _, s_bound));
            Assert.Throws<IicChannelClosedException>(() => b.Receive(buffer)); // the side was left: still the close, not misuse
        }
    }
}
