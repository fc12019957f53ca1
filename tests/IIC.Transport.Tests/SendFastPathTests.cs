using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 8, branch poll): <c>WindowEndpoint.Send</c> writes a one-record message that fits behind the cached
/// head without an exception handler (<c>RingWriter.TryWriteFast</c>) and hands every other case to the old path: a
/// record that wraps (padding), a ring full by the cached head (re-read, then back pressure), fragments, a sleeping
/// reader (the guarded doorbell), a peer gone. Each way out must deliver the same bytes in order, and a send that
/// throws must still leave the send side (the next call reports the same error, and Dispose completes).
/// </summary>
public sealed class SendFastPathTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Theory]
    [InlineData(false)] // the receiver spins: every doorbell is suppressed
    [InlineData(true)] // the receiver parks: sends find it armed and take the guarded doorbell
    public void Every_way_through_send_delivers_every_message_in_order(bool parkingReceiver)
    {
        // A 4 KiB ring: records up to 1 KiB, so sizes from 1 B to 1.5 KiB wrap every few messages (padding), fill the
        // ring (the cached head goes stale, then the shared one is re-read, then the sender waits) and fragment.
        const int Messages = 3000;
        var strategy = parkingReceiver ? WaitStrategy.Park : WaitStrategy.BusySpin;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = strategy });
        using (a)
        using (b)
        {
            var failure = PatternedTraffic.Run(Messages, PatternedTraffic.MixedLength, PatternedTraffic.MixedSender(a, s_bound), (byte[] buffer, out int length) => b.TryReceive(buffer, out length, s_bound), pauseNowAndThen: parkingReceiver, s_bound);
            Assert.Null(failure);
            Assert.Equal(Messages, a.GetStatistics().MessagesSent);
            Assert.Equal(Messages, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public void A_send_that_finds_the_peer_gone_leaves_the_send_side()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        {
            a.Send([1, 2, 3]); // the fast path
            b.Dispose();
            // The fast path declines (peer gone), the slow path throws: twice, so the first left the send side (a send
            // side still held by this thread would make the second one a misuse error instead).
            Assert.Throws<IicChannelClosedException>(() => a.Send([4]));
            Assert.Throws<IicChannelClosedException>(() => a.Send([5]));
            Assert.Throws<IicChannelClosedException>(() => a.TryClaim(1, out _)); // and the claim path is not held either
        }
    }

    [Fact]
    public void A_gate_reads_each_threads_own_managed_id()
    {
        var ids = new int[4];
        var expected = new int[4];
        var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
        {
            expected[i] = Environment.CurrentManagedThreadId;
            ids[i] = RoleGate.CurrentThreadId;
            ids[i] = ids[i] == RoleGate.CurrentThreadId ? ids[i] : -1; // the cached read agrees with the first
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }
        foreach (var thread in threads)
        {
            Assert.True(thread.Join(s_bound));
        }
        Assert.Equal(expected, ids);
        Assert.Equal(4, ids.Distinct().Count());
        Assert.Equal(Environment.CurrentManagedThreadId, RoleGate.CurrentThreadId);
    }
}
