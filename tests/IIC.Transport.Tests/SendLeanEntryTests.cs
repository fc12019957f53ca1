using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 13, branch oneway): <see cref="IicChannel.Send(ReadOnlySpan{byte})"/> enters the send side through the
/// owner's lean entry (RoleGate.TryEnterOwnerFast, as TryClaim since round 12) and sends a one-record message to a reader
/// that is not armed without an exception handler (WindowEndpoint.TrySendFast); everything else goes out of line to the
/// old path (SendWithin by the gate's full rules, or SendHolding holding the gate). What must still hold on the lean
/// path: every way through it delivers every message in order (wraps, a full ring, fragments, a parked reader); misuse by
/// the owner (a send with its own claim open) is refused and leaves the claim intact; another thread still takes its
/// turn; a disposed channel and a closed peer throw the documented exceptions and leave the send side free.
/// </summary>
public sealed class SendLeanEntryTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Theory]
    [InlineData(false)] // the receiver spins: the lean path sends nearly everything
    [InlineData(true)] // the receiver parks: sends that find it armed go out of line to the guarded doorbell
    public void Every_way_through_the_lean_send_delivers_every_message_in_order(bool parkingReceiver)
    {
        // A 4 KiB ring: records up to 1 KiB, so sizes from 1 B to 1.5 KiB wrap (padding), fill the ring (the lean path
        // declines, the old path re-reads the head and waits) and fragment; all through Send(ReadOnlySpan<byte>).
        const int Messages = 3000;
        var strategy = parkingReceiver ? WaitStrategy.Park : WaitStrategy.BusySpin;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = strategy });
        using (a)
        using (b)
        {
            var message = new byte[1536];
            var failure = PatternedTraffic.Run(Messages, PatternedTraffic.MixedLength, i =>
            {
                var span = message.AsSpan(0, PatternedTraffic.MixedLength(i));
                PatternedMessage.Fill(span, i);
                a.Send(span);
            }, (byte[] buffer, out int length) => b.TryReceive(buffer, out length, s_bound), pauseNowAndThen: parkingReceiver, s_bound);
            Assert.Null(failure);
            Assert.True(a.SendOwnerKnownByStack, "the sending thread is the owner told by its stack: the lean entry was taken");
            var sent = a.GetStatistics();
            Assert.Equal(Messages, sent.MessagesSent);
            Assert.Equal(Messages, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public void The_owner_sending_with_its_claim_open_is_refused_and_the_open_claim_still_commits()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            a.Send([1]); // the first entry records this thread as the owner
            a.Send([2]); // the lean entry
            Assert.True(a.SendOwnerKnownByStack);
            Assert.True(a.TryClaim(1, out var open));
            open.Span[0] = 3;
            var refused = Assert.Throws<InvalidOperationException>(() => a.Send([9]));
            Assert.Contains("open ChannelClaim", refused.Message, StringComparison.Ordinal);
            open.Commit();
            a.Send([4]); // the send side is free again
            var buffer = new byte[8];
            for (byte expected = 1; expected <= 4; expected++)
            {
                Assert.True(b.TryReceive(buffer, out var length, s_bound));
                Assert.Equal((1, expected), (length, buffer[0]));
            }
            Assert.False(b.TryReceive(buffer, out _), "the refused send published nothing");
        }
    }

    [Fact]
    public void Another_thread_takes_its_turn_after_the_owners_lean_sends_and_every_message_arrives()
    {
        const int PerThread = 2000;
        // A ring that holds every message (4001 lines of 64 B): nobody reads until both senders are done, so no send waits.
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 1 << 19, WaitStrategy = WaitStrategy.BusySpin });
        using (a)
        using (b)
        {
            a.Send(Stamp(0, 0)); // this thread owns the send side from here on
            var other = new Thread(() =>
            {
                for (var i = 1; i <= PerThread; i++)
                {
                    a.Send(Stamp(1, i)); // revokes the bias on its first entry, then takes turns
                }
            });
            other.Start();
            var last = new[] { -1, 0 }; // thread 0 sends 0..PerThread, thread 1 sends 1..PerThread
            var received = 0;
            var buffer = new byte[8];
            for (var i = 1; i <= PerThread; i++)
            {
                a.Send(Stamp(0, i));
            }
            Assert.True(other.Join(s_bound), "the other sender finished");
            while (received < (2 * PerThread) + 1)
            {
                Assert.True(b.TryReceive(buffer, out _, s_bound), $"message {received} arrived");
                Check(buffer, last, ref received);
            }
            Assert.Equal(new[] { PerThread, PerThread }, last);
            Assert.False(b.TryReceive(buffer, out _));
        }

        static byte[] Stamp(int thread, int sequence)
        {
            var message = new byte[8];
            BitConverter.TryWriteBytes(message.AsSpan(0, 4), thread);
            BitConverter.TryWriteBytes(message.AsSpan(4), sequence);
            return message;
        }

        static void Check(byte[] buffer, int[] last, ref int received)
        {
            var thread = BitConverter.ToInt32(buffer, 0);
            var sequence = BitConverter.ToInt32(buffer, 4);
            Assert.InRange(thread, 0, 1);
            Assert.Equal(last[thread] + 1, sequence); // each thread's messages in its order, none lost or repeated
            last[thread] = sequence;
            received++;
        }
    }

    [Fact]
    public void A_lean_send_after_dispose_throws_and_leaves_nothing_held()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (b)
        {
            a.Send([1]);
            a.Send([2]); // the lean entry
            a.Dispose();
            Assert.Throws<ObjectDisposedException>(() => a.Send([3]));
            Assert.Throws<ObjectDisposedException>(() => a.Send([4])); // not a misuse error: the first left the send side
            var buffer = new byte[8];
            Assert.True(b.TryReceive(buffer, out var length, s_bound));
            Assert.Equal((1, (byte)1), (length, buffer[0]));
            Assert.True(b.TryReceive(buffer, out length, s_bound));
            Assert.Equal((1, (byte)2), (length, buffer[0]));
        }
    }
}
