using IIC.Hardware;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 round 8: two waiters on one channel (the async dispatcher and a blocking, timed or inline-spinning receive
/// on a default multi-reader channel) share the ring's "armed" word and the interrupt block's "sleeping" word. Both are
/// counted per waiter now, so the one that ends first no longer clears them under the other, and idle receivers sleep
/// until rung (no 1 s or 100 ms bound hides a lost wake any more: without the counts these tests hang, and fail at
/// their timeout). Real memfd windows, futexes and threads; nothing here waits on a clock for synchronisation.
/// </summary>
[Collection(nameof(IsolatedTests))]
public sealed class SharedWaitersTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    // Park at once: every wait below really sleeps in the kernel (no spin hides a missed doorbell), and the dispatcher
    // never polls for these receivers (a Park strategy's poll ceiling is 0).
    private static readonly ChannelOptions s_park = new() { RingCapacity = 4096, WaitStrategy = WaitStrategy.Park, Name = "shared-waiters" };

    [Fact]
    public async Task A_timed_receive_that_parks_beside_a_parked_async_receive_leaves_it_armed_and_asleep_on_a_rung_page()
    {
        var (a, b) = IicChannel.CreatePair(s_park);
        using (a)
        using (b)
        {
            var buffer = new byte[16];
            var pending = b.ReceiveAsync(buffer).AsTask();
            var dispatcher = await ParkedDispatcherAsync(b);
            var page = b.Endpoint.ReceivePage;
            Assert.Equal(1, b.Endpoint.ReceiveArms);

            // A second waiter on the same channel parks in the kernel beside the dispatcher, and gives up.
            var parks = b.Endpoint.Waiter.Parks;
            Assert.False(b.TryReceive(new byte[16], out _, TimeSpan.FromMilliseconds(20)));
            Assert.True(b.Endpoint.Waiter.Parks > parks, "the timed receive parked");

            // Its end withdrew only its own arm and its own sleep announcement: the dispatcher's remain.
            Assert.Equal(1, b.Endpoint.ReceiveArms);
            Assert.True(b.Endpoint.IsReceiveArmed, "the timed receive disarmed the ring under the parked dispatcher");
            Assert.Equal(DispatcherState.Parked, dispatcher.State);
            Assert.Equal(1, page.Sleepers);

            // So the next message rings the page and wakes the dispatcher (before: it slept on until a bound ended the sleep).
            a.Send("to the async receive"u8[..16]);
            Assert.Equal(16, await pending.WaitAsync(s_timeout));
            Assert.Equal(0, b.Endpoint.ReceiveArms);
            Assert.False(b.Endpoint.IsReceiveArmed);
        }
    }

    [Fact]
    public async Task Two_concurrent_ReceiveAsync_calls_never_stall_when_the_second_spins_inline_under_the_parked_dispatcher()
    {
        var (a, b) = IicChannel.CreatePair(s_park);
        using (a)
        using (b)
        {
            var first = b.ReceiveAsync(new byte[8]).AsTask();
            await ParkedDispatcherAsync(b);
            // The dispatcher is parked, so this one waits on the calling thread first (arming and disarming the ring),
            // then takes its turn behind the first.
            var second = b.ReceiveAsync(new byte[8]).AsTask();
            Assert.True(b.Endpoint.IsReceiveArmed, "the second receive's inline wait disarmed the ring under the parked dispatcher");
            a.Send("message1"u8);
            var done = await Task.WhenAny(first, second).WaitAsync(s_timeout);
            Assert.Equal(8, await done);
            a.Send("message2"u8);
            Assert.Equal(8, await first.WaitAsync(s_timeout));
            Assert.Equal(8, await second.WaitAsync(s_timeout));
        }
    }

    [Theory]
    [InlineData("park")]
    [InlineData("adaptive")]
    public async Task Blocking_and_async_receivers_on_one_channel_take_every_message_without_a_stall(string strategy)
    {
        const int messages = 300;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.Parse(strategy), Name = "shared-waiters-mix" });
        using (a)
        using (b)
        {
            var received = 0;
            var arrived = new SemaphoreSlim(0);
            var blocking = Task.Factory.StartNew(() =>
            {
                var buffer = new byte[8];
                var count = 0;
                while (true)
                {
                    b.Receive(buffer);
                    if (BitConverter.ToInt64(buffer) < 0)
                    {
                        return count;
                    }
                    count++;
                    Interlocked.Increment(ref received);
                    arrived.Release();
                }
            }, TaskCreationOptions.LongRunning);
            var asynchronous = Task.Run(async () =>
            {
                var buffer = new byte[8];
                var count = 0;
                while (true)
                {
                    await b.ReceiveAsync(buffer);
                    if (BitConverter.ToInt64(buffer) < 0)
                    {
                        return count;
                    }
                    count++;
                    Interlocked.Increment(ref received);
                    arrived.Release();
                }
            });
            var message = new byte[8];
            for (long i = 0; i < messages; i++)
            {
                // One at a time: each message finds both receivers waiting (parked, most of the time), and one of them
                // must be woken. The other keeps waiting, and must still be woken for the next.
                BitConverter.TryWriteBytes(message, i);
                a.Send(message);
                Assert.True(await arrived.WaitAsync(s_timeout), $"message {i} was never received ({Volatile.Read(ref received)} were)");
            }
            // One stop each: whichever takes the first ends, and the other, still waiting, must be woken for the second.
            BitConverter.TryWriteBytes(message, -1L);
            a.Send(message);
            a.Send(message);
            var counts = await Task.WhenAll(blocking, asynchronous).WaitAsync(s_timeout);
            output.WriteLine($"{strategy}: blocking receiver took {counts[0]}, async receiver {counts[1]}; receive parks {b.Endpoint.Waiter.Parks}, park timeouts {b.Endpoint.Waiter.ParkTimeouts}");
            Assert.Equal(messages, counts[0] + counts[1]);
            Assert.Equal(0, b.Endpoint.Waiter.ParkTimeouts);
            Assert.Equal(0, b.Endpoint.ReceiveArms);
        }
    }

    [Fact]
    public async Task A_cancellable_Receive_sleeps_until_rung_and_its_token_rings_it()
    {
        var (a, b) = IicChannel.CreatePair(s_park);
        using (a)
        using (b)
        {
            using var cancellation = new CancellationTokenSource();
            var waiter = b.Endpoint.Waiter;
            var receiving = Task.Factory.StartNew(() => b.Receive(new byte[8], cancellation.Token), TaskCreationOptions.LongRunning);
            WaitFor.Condition(() => waiter.Parks >= 1 || receiving.IsCompleted, "the cancellable receive parked");
            var parks = waiter.Parks;
            Thread.Sleep(TimeSpan.FromMilliseconds(200)); // the idle period under test, not synchronisation: nothing happens in it
            // It used to wake every 10 ms to look at its token: about 20 park timeouts here.
            output.WriteLine($"idle cancellable receive: {waiter.Parks - parks} more parks, {waiter.ParkTimeouts} park timeouts in 200 ms");
            Assert.Equal(0, waiter.ParkTimeouts);
            Assert.Equal(parks, waiter.Parks);

            await cancellation.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receiving.WaitAsync(s_timeout));
            Assert.Equal(0, b.Endpoint.ReceiveArms);

            // A message still wakes it (the doorbell), with a token that is never cancelled.
            using var other = new CancellationTokenSource();
            var second = Task.Factory.StartNew(() => b.Receive(new byte[8], other.Token), TaskCreationOptions.LongRunning);
            WaitFor.Condition(() => waiter.Parks > parks || second.IsCompleted, "the second cancellable receive parked");
            a.Send("rung-msg"u8);
            Assert.Equal(8, await second.WaitAsync(s_timeout));
            Assert.Equal(0, waiter.ParkTimeouts);
        }
    }

    [Fact]
    public async Task A_group_refuses_a_channel_with_a_pending_async_receive_and_changes_nothing()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("group-alone-peer", 4096, 2, new ChannelOptions { Grouped = true, RingCapacity = 4096 });
        using var peer = child;
        var (keeper, subject) = (channels[0], channels[1]);
        try
        {
            var group = new IicChannelGroup(host.Partition);
            group.Add(keeper);
            var buffer = new byte[8];
            var pending = subject.ReceiveAsync(buffer).AsTask();
            WaitFor.Condition(() => subject.AsyncReceive.IsWaiting || pending.IsCompleted, "the async receive is pending");
            var refused = Assert.Throws<InvalidOperationException>(() => group.Add(subject));
            Assert.Contains("asynchronous receive", refused.Message, StringComparison.Ordinal);
            Assert.Equal(1, group.Count);
            // Still raised on its own block, where the dispatcher sleeps: the refusal changed nothing.
            child.Command("send", s_timeout);
            Assert.Equal(8, await pending.WaitAsync(s_timeout));
            group.Add(subject); // once the receive completed, it joins
            Assert.Equal(2, group.Count);
            child.Command("send", s_timeout);
            Assert.Same(subject, group.WaitAny(s_timeout));
            // And in the group, a new async receive is refused (the group waits for it).
            var inGroup = Assert.Throws<InvalidOperationException>(() => subject.ReceiveAsync(buffer).AsTask().GetAwaiter().GetResult());
            Assert.Contains("IicChannelGroup.Remove", inGroup.Message, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>The dispatcher <paramref name="channel"/>'s pending async receive went to, once it is parked (armed, asleep on the page).</summary>
    private static async Task<InterruptDispatcher> ParkedDispatcherAsync(IicChannel channel)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (channel.AsyncReceive.Dispatcher is not { State: DispatcherState.Parked } || channel.Endpoint.ReceivePage.Sleepers == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the dispatcher never parked for the pending receive");
            await Task.Delay(5);
        }
        return channel.AsyncReceive.Dispatcher!;
    }
}
