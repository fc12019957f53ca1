using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 12, branch claim2): TryClaim and the waiting Poll enter their role through a lean owner-only entry
/// (RoleGate.TryEnterOwnerFast) and hand everything else to the gate's full rules; a claim no longer carries a "done"
/// flag of its own (the channel's generation and open-claim check decide). What must still hold on the lean path: misuse
/// by the owner itself (a second claim, a poll from inside a handler) is refused with the documented exception and leaves
/// the open claim or the poll intact; a finished claim cannot finish again; bad arguments are refused before anything is
/// taken; and another thread still takes its turn after the owner's lean entries.
/// </summary>
public sealed class LeanEntryTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(10);

    [Fact]
    public void The_owner_claiming_again_with_its_claim_open_is_refused_and_the_open_claim_still_commits()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            // A first claim makes this thread the send side's owner, told by its stack: the lean entry applies from now on.
            Assert.True(a.TryClaim(1, out var first));
            first.Span[0] = 1;
            first.Commit();
            Assert.True(a.SendOwnerKnownByStack, "the owner is known by its stack, so the next claims take the lean entry");
            Assert.True(a.TryClaim(1, out var open));
            open.Span[0] = 2;
            var refused = Assert.Throws<InvalidOperationException>(() => a.TryClaim(1, out _));
            Assert.Contains("open ChannelClaim", refused.Message, StringComparison.Ordinal);
            open.Commit();
            var buffer = new byte[8];
            Assert.True(b.TryReceive(buffer, out var length, s_bound));
            Assert.Equal((1, (byte)1), (length, buffer[0]));
            Assert.True(b.TryReceive(buffer, out length, s_bound));
            Assert.Equal((1, (byte)2), (length, buffer[0]));
            Assert.False(b.TryReceive(buffer, out _), "the refused claim published nothing");
        }
    }

    [Fact]
    public void A_claim_committed_or_aborted_cannot_be_finished_again_and_the_channel_goes_on()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            Assert.True(a.TryClaim(4, out var committed));
            committed.Span.Fill(7);
            committed.Commit();
            Assert.True(Refused(ref committed, commit: true), "a committed claim committed again");
            Assert.True(Refused(ref committed, commit: false), "a committed claim aborted");
            Assert.True(a.TryClaim(4, out var aborted));
            aborted.Abort();
            Assert.True(Refused(ref aborted, commit: true), "an aborted claim committed");
            Assert.True(Refused(ref aborted, commit: false), "an aborted claim aborted again");
            var none = default(ChannelClaim);
            Assert.True(Refused(ref none, commit: true), "a default claim committed");
            // A second commit of the first claim while a newer claim is open must not publish the newer one.
            Assert.True(a.TryClaim(4, out var newer));
            newer.Span.Fill(9);
            Assert.True(Refused(ref committed, commit: true), "a finished claim committed the open one");
            newer.Commit();
            var buffer = new byte[8];
            Assert.True(b.TryReceive(buffer, out var length, s_bound));
            Assert.Equal((4, (byte)7), (length, buffer[0]));
            Assert.True(b.TryReceive(buffer, out length, s_bound));
            Assert.Equal((4, (byte)9), (length, buffer[0]));
            Assert.False(b.TryReceive(buffer, out _), "nothing else was published: the aborted claim, no duplicate");
        }
    }

    [Fact]
    public void The_waiting_poll_refuses_bad_arguments_and_a_poll_from_its_own_handler_on_the_lean_path()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.BusySpin });
        using (a)
        using (b)
        {
            // Make this thread the receive side's owner first (the lean entry's only case).
            a.Send([1]);
            var count = new Counter();
            Assert.Equal(1, b.Poll(ref count, 1, s_bound));
            a.Send([2]);
            Assert.Throws<ArgumentOutOfRangeException>(() => PollWith(b, limit: 0, s_bound));
            Assert.Throws<ArgumentOutOfRangeException>(() => PollWith(b, limit: 1, TimeSpan.FromTicks(-1)));
            var reentrant = new Reentrant { Channel = b };
            Assert.Throws<InvalidOperationException>(() => PollReentrant(b, ref reentrant));
            Assert.True(reentrant.Called, "the handler ran (and its poll of its own channel was refused)");
            // The message whose handler threw stays unread; the receive side was left: the next poll takes it, with an
            // infinite timeout (the full path) and then a finite one (the lean path).
            Assert.Equal(1, b.Poll(ref count, 1, Timeout.InfiniteTimeSpan));
            a.Send([3]);
            Assert.Equal(1, b.Poll(ref count, 1, s_bound));
            Assert.Equal(3, count.Messages);
            Assert.Equal(1 + 2 + 3, count.Sum); // each message once: the refused one was not consumed, nor handed out twice
        }
    }

    [Fact]
    public void Another_thread_takes_its_turn_after_the_owners_lean_entries_on_both_sides()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        {
            var count = new Counter();
            for (var i = 0; i < 100; i++)
            {
                Assert.True(a.TryClaim(1, out var claim));
                claim.Span[0] = 1;
                claim.Commit();
                Assert.Equal(1, b.Poll(ref count, 1, s_bound));
            }
            Assert.True(a.RolesBiasedToCurrentThread.Send, "the owner's claims kept the send role biased");
            Assert.True(b.RolesBiasedToCurrentThread.Receive, "the owner's polls kept the receive role biased");
            Exception? failure = null;
            var other = new Thread(() =>
            {
                try
                {
                    Assert.True(a.TryClaim(1, out var claim));
                    claim.Span[0] = 2;
                    claim.Commit();
                    var theirs = new Counter();
                    Assert.Equal(1, b.Poll(ref theirs, 1, s_bound));
                    Assert.Equal(2, theirs.Sum);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failure = e;
                }
            });
            other.Start();
            Assert.True(other.Join(s_bound), "the other thread finished");
            Assert.Null(failure);
            Assert.False(a.RolesBiasedToCurrentThread.Send, "the other thread's claim revoked the send bias");
            Assert.False(b.RolesBiasedToCurrentThread.Receive, "the other thread's poll revoked the receive bias");
            // The owner goes on through the compare-exchange (the lean entry declines once the bias is revoked).
            Assert.True(a.TryClaim(1, out var after));
            after.Span[0] = 3;
            after.Commit();
            Assert.Equal(1, b.Poll(ref count, 1, s_bound));
            Assert.Equal(101, count.Messages);
            Assert.Equal(100 + 3, count.Sum);
        }
    }

    /// <summary>Whether finishing <paramref name="claim"/> was refused with the documented exception (a claim is a ref struct: no lambda).</summary>
    private static bool Refused(ref ChannelClaim claim, bool commit)
    {
        try
        {
            if (commit)
            {
                claim.Commit();
            }
            else
            {
                claim.Abort();
            }
        }
        catch (InvalidOperationException)
        {
            return true;
        }
        return false;
    }

    private static int PollWith(IicChannel channel, int limit, TimeSpan timeout)
    {
        var count = new Counter();
        return channel.Poll(ref count, limit, timeout);
    }

    private static int PollReentrant(IicChannel channel, ref Reentrant handler) => channel.Poll(ref handler, 1, s_bound);

    private struct Counter : IMessageHandler
    {
        public int Messages;
        public int Sum;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            Messages++;
            Sum += message[0];
        }
    }

    private struct Reentrant : IMessageHandler
    {
        public IicChannel Channel;
        public bool Called;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            Called = true;
            var inner = new Counter();
            Channel.Poll(ref inner, 1, TimeSpan.Zero); // this thread is inside the receive side: refused
        }
    }
}
