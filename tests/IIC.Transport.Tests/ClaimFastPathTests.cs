using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 9, branch ring): <c>IicChannel.TryClaim</c> and <c>ChannelClaim.Commit</c> run their common case
/// without an exception handler (<c>WindowEndpoint.TryClaimFast</c>/<c>TryCommitFast</c>, <c>RingWriter.TryClaimFast</c>)
/// and hand every other case to the old paths under their handlers: a claim that wraps (padding), a ring full by the
/// cached head (re-read), a reader that is armed (the commit's doorbell), a bad length, a peer gone, a disposed channel.
/// Each way must deliver the same bytes in order, and a claim or commit that throws must leave the send side.
/// </summary>
public sealed class ClaimFastPathTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Theory]
    [InlineData(false, false)] // the receiver spins: every commit takes the fast path's doorbell (suppressed)
    [InlineData(true, false)] // the receiver parks: commits find it armed and take the guarded path
    [InlineData(false, true)] // the same with the writer cleaning the lines (IIC_WRITER_CLEANS's writer)
    public void Every_way_through_claim_and_commit_delivers_every_message_in_order(bool parkingReceiver, bool writerCleans)
    {
        // A 4 KiB ring: claims up to 1 KiB, so sizes from 0 B to 1 KiB wrap every few messages (padding) and fill the ring
        // (the cached head goes stale, then the shared one is re-read, then the claimer retries).
        const int Messages = 3000;
        var strategy = parkingReceiver ? WaitStrategy.Park : WaitStrategy.BusySpin;
        var (a, b) = PatternedTraffic.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = strategy }, writerCleans);
        using (a)
        using (b)
        {
            var deadline = DateTime.UtcNow + s_bound;
            var failure = PatternedTraffic.Run(Messages, Length, i =>
            {
                ChannelClaim claim;
                while (!a.TryClaim(Length(i), out claim))
                {
                    Assert.True(DateTime.UtcNow < deadline, $"claim {i} found no room in time");
                    Thread.Yield();
                }
                if (Length(i) > 0)
                {
                    PatternedMessage.Fill(claim.Span, i);
                }
                claim.Commit();
            }, (byte[] buffer, out int length) => b.TryReceive(buffer, out length, s_bound), pauseNowAndThen: parkingReceiver, s_bound);
            Assert.Null(failure);
            Assert.Equal(Messages, a.GetStatistics().MessagesSent);
            Assert.Equal(Messages, b.GetStatistics().MessagesReceived);
        }

        // Mostly small, with every 7th claim 0.3-1 KiB: wraps and full rings; every 50th empty.
        static int Length(int i) => i % 50 == 0 ? 0 : i % 7 == 0 ? 300 + (i * 37 % 700) : 1 + (i * 13 % 120);
    }

    [Fact]
    public void A_claim_that_throws_leaves_the_send_side()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        {
            // A bad length: the fast path declines, the slow path throws; twice, so the first left the send side (a send
            // side still held by this thread would make the second one a misuse error instead), and a claim still works.
            Assert.Throws<ArgumentOutOfRangeException>(() => a.TryClaim(a.MaxClaimLength + 1, out _));
            Assert.Throws<ArgumentOutOfRangeException>(() => a.TryClaim(-1, out _));
            Assert.True(a.TryClaim(8, out var claim));
            claim.Commit();
            b.Dispose();
            Assert.Throws<IicChannelClosedException>(() => a.TryClaim(8, out _));
            Assert.Throws<IicChannelClosedException>(() => a.TryClaim(8, out _));
            Assert.Throws<IicChannelClosedException>(() => a.Send([1]));
        }
        Assert.Throws<ObjectDisposedException>(() => a.TryClaim(8, out _));
        Assert.Throws<ObjectDisposedException>(() => a.TryClaim(8, out _));
    }

    // A commit after Dispose (the fast path declines, the old one throws ObjectDisposedException) is ConcurrentDisposeTests'.
}
