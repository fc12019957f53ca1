using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 10, branch recv): the waiting poll <c>Poll(ref handler, limit, timeout)</c> and the timed and blocking
/// copy-out receives take a whole one-record message that is there, or arrives within the clock-free first spin, on a
/// fast path (<c>WindowEndpoint.TryEnterWithRecord</c>, <c>HandleFast</c>): the poll under one exception handler instead
/// of three nested ones, the receives under none. The user's handler runs inside it and may throw or dispose the channel:
/// its message must stay unread, the receive side must be left, and the old path must take over for everything else
/// (fragments, padding, waits, the peer's close) with every message delivered once and in order.
/// </summary>
public sealed class PollFastPathTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    public static TheoryData<string, bool> Ways => new()
    {
        { "poll", true }, { "poll", false }, { "try-receive", true }, { "try-receive", false }, { "receive", true }, { "receive", false },
    };

    [Theory]
    [MemberData(nameof(Ways))]
    public void Every_way_delivers_every_message_in_order_with_and_without_the_first_spin(string way, bool busySpin)
    {
        // BusySpin: the fast paths spin for a message that is not there yet; Park: they never spin and the old path waits.
        // (SpinBeforeClockTests flips the spin's process-wide switch while it runs, in parallel with this class: not
        // asserted here, and the traffic must arrive whole and in order either way.)
        // A 4 KiB ring with the mixed lengths wraps (padding), fills and fragments every few messages.
        const int Messages = 3000;
        var options = new ChannelOptions { RingCapacity = 4096, WaitStrategy = busySpin ? WaitStrategy.BusySpin : WaitStrategy.Park };
        var (a, b) = IicChannel.CreatePair(options);
        using (a)
        using (b)
        {
            var failure = PatternedTraffic.Run(Messages, PatternedTraffic.MixedLength, PatternedTraffic.MixedSender(a, s_bound), (byte[] buffer, out int length) =>
            {
                switch (way)
                {
                    case "poll":
                        var copy = new CopyInto(buffer);
                        var handled = b.Poll(ref copy, 1, s_bound);
                        length = copy.Length;
                        return handled == 1;
                    case "try-receive":
                        return b.TryReceive(buffer, out length, s_bound);
                    default:
                        length = b.Receive(buffer);
                        return true;
                }
            }, pauseNowAndThen: true, s_bound);
            Assert.Null(failure);
            Assert.Equal(Messages, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public void A_handler_that_throws_leaves_its_message_unread_and_the_receive_side_free()
    {
        // SingleReader: a receive side still held after the throw would make the next poll a misuse error.
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, SingleReader = true });
        using (a)
        using (b)
        {
            a.Send([7, 7, 7]);
            var throwing = new Throwing { ThrowAt = 0 };
            Assert.Throws<InvalidDataException>(() => b.Poll(ref throwing, 4, s_bound));
            Assert.Equal(0, b.GetStatistics().MessagesReceived);
            var handler = new Throwing { ThrowAt = -1 };
            Assert.Equal(1, b.Poll(ref handler, 4, s_bound)); // the same message again, once
            Assert.Equal(1, handler.Seen);
            Assert.Equal(7, handler.LastFirstByte);
            Assert.Equal(0, b.Poll(ref handler, 4, TimeSpan.Zero));
        }
    }

    [Fact]
    public void A_handler_that_throws_in_a_batch_keeps_the_earlier_messages_consumed_and_its_own_unread()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            for (byte i = 0; i < 4; i++)
            {
                a.Send([i, 1, 2, 3]);
            }
            var throwing = new Throwing { ThrowAt = 2 }; // the third message of the batch throws
            Assert.Throws<InvalidDataException>(() => b.Poll(ref throwing, 4, s_bound));
            Assert.Equal(2, b.GetStatistics().MessagesReceived);
            var handler = new Throwing { ThrowAt = -1 };
            Assert.Equal(2, b.Poll(ref handler, 4, s_bound));
            Assert.Equal(3, handler.LastFirstByte); // messages 2 and 3: nothing lost, nothing twice
            Assert.Equal(4, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public void A_batch_stops_at_a_fragmented_message_and_the_next_poll_delivers_it_whole()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 16384 });
        using (a)
        using (b)
        {
            var big = new byte[6000]; // fragments in a 16 KiB ring (records up to a quarter of it), and fits whole
            big.AsSpan().Fill(9);
            a.Send([1]);
            a.Send([2]);
            a.Send(big);
            var handler = new Throwing { ThrowAt = -1 };
            var total = 0;
            while (total < 3)
            {
                var handled = b.Poll(ref handler, 8, s_bound);
                Assert.InRange(handled, 1, 3);
                total += handled;
            }
            Assert.Equal(3, handler.Seen);
            Assert.Equal(6000, handler.LastLength);
            Assert.Equal(9, handler.LastFirstByte);
        }
    }

    [Fact]
    public void A_handler_that_disposes_its_channel_ends_the_batch_and_later_polls_are_refused()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        {
            a.Send([1]);
            a.Send([2]);
            var disposing = new Disposing { Channel = b };
            Assert.Equal(1, b.Poll(ref disposing, 4, s_bound)); // the second is not handed out after the disposal
            Assert.Throws<ObjectDisposedException>(() => b.Poll(ref disposing, 4, s_bound));
            Assert.Throws<ObjectDisposedException>(() => b.TryReceive(new byte[8], out _, s_bound));
        }
    }

    [Fact]
    public void After_the_peer_closed_the_waiting_poll_delivers_what_it_sent_then_reports_the_close()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.BusySpin });
        using (b)
        {
            for (byte i = 0; i < 5; i++)
            {
                a.Send([i]);
            }
            a.Dispose();
            var handler = new Throwing { ThrowAt = -1 };
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(1, b.Poll(ref handler, 1, s_bound));
                Assert.Equal(i, handler.LastFirstByte);
            }
            Assert.Throws<IicChannelClosedException>(() => b.Poll(ref handler, 1, s_bound)); // the spin sees the close, the old path reports it
            Assert.Throws<IicChannelClosedException>(() => b.Poll(ref handler, 1, TimeSpan.Zero));
        }
    }

    private ref struct CopyInto(byte[] buffer) : IMessageHandler
    {
        private readonly byte[] _buffer = buffer;

        public int Length { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            message.CopyTo(_buffer);
            Length = message.Length;
        }
    }

    private struct Throwing : IMessageHandler
    {
        public int ThrowAt; // the index (within this handler's life) of the message that throws; -1 none
        public int Seen;
        public int LastFirstByte;
        public int LastLength;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            if (Seen == ThrowAt)
            {
                throw new InvalidDataException("the handler refuses this message");
            }
            Seen++;
            LastFirstByte = message[0];
            LastLength = message.Length;
        }
    }

    private struct Disposing : IMessageHandler
    {
        public IicChannel Channel;

        public readonly void OnMessage(ReadOnlySpan<byte> message) => Channel.Dispose();
    }
}
