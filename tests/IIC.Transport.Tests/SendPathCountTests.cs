using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17, round 10: a fast-path send stores two counts (messages, bytes, now kept in the doorbell) and no third for
/// the doorbell it skipped, which <c>Doorbell.SignalsSuppressed</c> derives; and the send role's biased owner is told by
/// its stack instead of a thread-static id. The counters must keep their meaning on every way through send (one record,
/// claim, fragments, a sleeping receiver), and no other thread may ever pass for the owner.
/// </summary>
public sealed class SendPathCountTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public void Every_way_through_send_counts_each_message_once_and_each_doorbell_once()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            var buffer = new byte[64 * 1024];
            long bytes = 0;
            for (var i = 0; i < 500; i++) // one record each, nobody armed: the fast path, the doorbell derived
            {
                a.Send(new byte[i % 100]);
                bytes += i % 100;
                Assert.True(b.TryReceive(buffer, out _));
            }
            var afterFast = a.GetStatistics();
            Assert.Equal(500, afterFast.MessagesSent);
            Assert.Equal(bytes, afterFast.BytesSent);
            Assert.Equal(500, afterFast.SignalsSuppressed);
            Assert.Equal(0, afterFast.SignalsRaised);

            for (var i = 0; i < 10; i++) // claims: the fast commit
            {
                Assert.True(a.TryClaim(24, out var claim));
                claim.Span.Fill(7);
                claim.Commit();
                bytes += 24;
                Assert.True(b.TryReceive(buffer, out _));
            }
            var afterClaims = a.GetStatistics();
            Assert.Equal(510, afterClaims.MessagesSent);
            Assert.Equal(bytes, afterClaims.BytesSent);
            Assert.Equal(510, afterClaims.SignalsSuppressed);

            var large = new byte[40 * 1024]; // fragments of an eighth of the ring: Ring counts each fragment's doorbell itself
            a.Send(large);
            bytes += large.Length;
            Assert.True(b.TryReceive(buffer, out var length));
            Assert.Equal(large.Length, length);
            var afterLarge = a.GetStatistics();
            Assert.Equal(511, afterLarge.MessagesSent);
            Assert.Equal(bytes, afterLarge.BytesSent);
            Assert.True(afterLarge.SignalsSuppressed - afterClaims.SignalsSuppressed >= 2, $"one doorbell per fragment: {afterLarge.SignalsSuppressed - afterClaims.SignalsSuppressed}");

            // A receiver asleep in Receive: the next send finds it armed and rings (a raised or suppressed signal, counted once).
            var before = afterLarge.SignalsRaised + afterLarge.SignalsSuppressed;
            var receiver = new Thread(() => b.Receive(buffer));
            receiver.Start();
            SpinWait.SpinUntil(() => b.GetStatistics().Wait.Parks > 0 || !receiver.IsAlive, s_bound);
            a.Send(new byte[8]);
            bytes += 8;
            Assert.True(receiver.Join(s_bound));
            var afterArmed = a.GetStatistics();
            Assert.Equal(512, afterArmed.MessagesSent);
            Assert.Equal(bytes, afterArmed.BytesSent);
            Assert.Equal(before + 1, afterArmed.SignalsRaised + afterArmed.SignalsSuppressed);
        }
    }

    [Fact]
    public void A_send_with_a_token_counts_each_message_and_doorbell_once_and_still_honours_the_token()
    {
        // Round 25: Send(message, token) takes Send's lean fast path when the ring has room (SendAndReceive's token
        // overload sends through it); a full ring still waits under the token.
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (a)
        using (b)
        using (var cancellation = new CancellationTokenSource())
        {
            var buffer = new byte[256];
            for (var i = 0; i < 300; i++) // laps of the 4 KiB ring
            {
                a.Send(new byte[1 + (i % 100)], cancellation.Token);
                Assert.True(b.TryReceive(buffer, out var length));
                Assert.Equal(1 + (i % 100), length);
            }
            var counts = a.GetStatistics();
            Assert.Equal(300, counts.MessagesSent);
            Assert.Equal(300, counts.SignalsSuppressed + counts.SignalsRaised);

            while (a.TrySend(new byte[64]))
            {
            }
            var waiting = Task.Factory.StartNew(() => a.Send(new byte[64], cancellation.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            WaitFor.Condition(() => a.GetStatistics().RingFullStalls > counts.RingFullStalls || waiting.IsCompleted, "the send met the full ring");
            cancellation.Cancel();
            var e = Assert.ThrowsAny<AggregateException>(() => waiting.Wait(s_bound));
            Assert.IsAssignableFrom<OperationCanceledException>(e.InnerException);
        }
    }

    [Fact]
    public void The_doorbell_keeps_its_per_message_counts_clear_of_the_next_object()
    {
        // The sending thread writes the counts on every message; the object allocated after the doorbell (the endpoint's
        // waiter) is the receiving thread's. A positive distance: the padding, laid out after the counts, ends the object.
        var (a, b) = IicChannel.CreatePair();
        using (a)
        using (b)
        {
            Assert.True(a.Endpoint.Doorbell.CountsToTrailingPadding() > 0);
        }
    }

    [Fact]
    public unsafe void Each_thread_gets_its_own_stack_bounds_once_and_they_hold_its_locals()
    {
        // The gate's owner test rests on this: the calling thread's locals lie inside the bounds it is given, and two
        // live threads' bounds do not overlap. Asked again, the same bounds (kept per thread, not looked up again).
        static (nuint Low, nuint Size) Mine()
        {
            Assert.True(ThreadStack.TryGetCurrent(out var low, out var size), "libc gives the stack bounds");
            byte local = 0;
            Assert.True((nuint)(&local) - low < size, "a local lies inside the bounds");
            Assert.True(ThreadStack.TryGetCurrent(out var again, out var againSize) && again == low && againSize == size);
            return (low, size);
        }
        var main = Mine();
        (nuint Low, nuint Size) other = default;
        using var ready = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            other = Mine();
            ready.Set();
            release.Wait(s_bound); // alive while the bounds are compared
        });
        thread.Start();
        Assert.True(ready.Wait(s_bound));
        Assert.True(other.Low + other.Size <= main.Low || main.Low + main.Size <= other.Low, "two live threads' stacks are apart");
        release.Set();
        Assert.True(thread.Join(s_bound));
    }

    [Fact]
    public void The_owner_is_told_by_its_stack_and_no_other_thread_passes_for_it()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024, SingleWriter = true });
        using (a)
        using (b)
        {
            a.Send([1]);
            Assert.True(a.SendOwnerKnownByStack, "libc gave the owner's stack bounds");
            Assert.True(a.RolesBiasedToCurrentThread.Send);
            // The owner holds the send side (a claim open, entered through the biased path): any other thread is refused,
            // however its stack and id compare.
            Assert.True(a.TryClaim(8, out var claim));
            Exception? intruder = null;
            var thread = new Thread(() =>
            {
                try
                {
                    a.TrySend([2]);
                }
                catch (Exception e)
                {
                    intruder = e;
                }
            });
            thread.Start();
            Assert.True(thread.Join(s_bound));
            Assert.IsType<InvalidOperationException>(intruder); // it revoked the bias, then found the owner inside
            Assert.False(a.RolesBiasedToCurrentThread.Send, "the intruder revoked the bias for good");
            claim.Span.Fill(3);
            claim.Commit();
            // A thread started after others ended (it may run on a stack an earlier thread had): sends once the owner is out.
            for (var i = 0; i < 3; i++)
            {
                var sent = false;
                var next = new Thread(() => sent = a.TrySend([(byte)(10 + i)]));
                next.Start();
                Assert.True(next.Join(s_bound));
                Assert.True(sent);
            }
            a.Send([20]); // the owner again, now through the compare-exchange (revoked)
            var buffer = new byte[16];
            var got = new List<byte>();
            while (b.TryReceive(buffer, out var length))
            {
                got.Add(buffer[length - 1]);
            }
            Assert.Equal(new byte[] { 1, 3, 10, 11, 12, 20 }, got.ToArray());
        }
    }
}
