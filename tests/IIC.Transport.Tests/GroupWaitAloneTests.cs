using IIC.Hardware;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 round 7: a grouped channel waits alone once it is out of its group (removed, or never added): its peer, in
/// another process, then raises the channel's own interrupt block instead of the group page, and the group page again
/// once the channel rejoins. While it is in a group, every wait on it alone throws the documented
/// <see cref="InvalidOperationException"/> naming the fix, and a group refuses a channel a thread is waiting on alone.
/// </summary>
public sealed class GroupWaitAloneTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly ChannelOptions s_grouped = new() { Grouped = true, RingCapacity = 4096 };

    [Fact]
    public async Task A_channel_out_of_its_group_waits_alone_across_processes_and_rejoins()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("group-alone-peer", 4096, 2, s_grouped);
        using var peer = child;
        var (keeper, subject) = (channels[0], channels[1]);
        try
        {
            var group = new IicChannelGroup(host.Partition);
            group.Add(keeper);
            group.Add(subject);
            var buffer = new byte[8];

            // In the group: every wait alone throws, naming the fix; nothing is taken.
            AssertInGroup(() => subject.Receive(buffer));
            AssertInGroup(() => subject.TryReceive(buffer, out _, TimeSpan.FromMilliseconds(1)));
            AssertInGroup(() => subject.ReceiveAsync(buffer));
            AssertInGroup(() => subject.WaitToReceiveAsync());
            // SendAndReceive refuses before it sends (round 25): its receive would wait alone.
            AssertInGroup(() => subject.SendAndReceive([1, 2, 3], buffer));
            AssertInGroup(() => subject.SendAndReceive([1, 2, 3], buffer, new CancellationTokenSource().Token));
            Assert.Equal(0, subject.GetStatistics().MessagesSent);
            child.Command("send", s_timeout);
            Assert.Same(subject, group.WaitAny(s_timeout));
            Assert.True(subject.TryReceive(buffer, out _));
            Assert.Equal(0, BitConverter.ToInt64(buffer));

            // Removed: a blocking receive parks alone and the peer's next send wakes it (no park timeout: it sleeps until rung).
            group.Remove(subject);
            var receiving = Task.Factory.StartNew(() => subject.Receive(new byte[8]) is var n && n == 8, TaskCreationOptions.LongRunning);
            WaitFor.Condition(() => subject.GetStatistics().Wait.Parks >= 1 || receiving.IsCompleted, "the lone receive parked");
            child.Command("send", s_timeout);
            Assert.True(await receiving.WaitAsync(s_timeout));
            var wait = subject.GetStatistics().Wait;
            output.WriteLine($"alone: parks {wait.Parks}, park timeouts {wait.ParkTimeouts}");
            Assert.Equal(0, wait.ParkTimeouts);

            // Asynchronously, and with a timeout.
            var pending = subject.ReceiveAsync(buffer);
            child.Command("send", s_timeout);
            Assert.Equal(8, await pending.AsTask().WaitAsync(s_timeout));
            Assert.Equal(2, BitConverter.ToInt64(buffer));
            child.Command("send", s_timeout);
            Assert.True(subject.TryReceive(buffer, out var length, s_timeout));
            Assert.Equal((8, 3L), (length, BitConverter.ToInt64(buffer)));

            // Back in the group: the peer raises the group page again, and the keeper was served all along.
            group.Add(subject);
            child.Command("send", s_timeout);
            Assert.Same(subject, group.WaitAny(s_timeout));
            Assert.True(subject.TryReceive(buffer, out _));
            Assert.Equal(4, BitConverter.ToInt64(buffer));
            child.Command("keeper", s_timeout);
            Assert.Same(keeper, group.WaitAny(s_timeout));
            Assert.True(keeper.TryReceive(buffer, out _));

            // Out again, waiting alone, the peer's close wakes it: the receive ends as documented.
            group.Remove(subject);
            var ending = Task.Factory.StartNew(() => subject.Receive(new byte[8]), TaskCreationOptions.LongRunning);
            WaitFor.Condition(() => subject.GetStatistics().Wait.Parks >= 2 || ending.IsCompleted, "the lone receive parked again");
            child.Command("close", s_timeout);
            await Assert.ThrowsAsync<IicChannelClosedException>(() => ending.WaitAsync(s_timeout));
            Assert.Equal(0, group.Receiver.Pages.Demotions);
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_group_refuses_a_channel_a_thread_is_waiting_on_alone_and_changes_nothing()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("group-alone-peer", 4096, 2, s_grouped);
        using var peer = child;
        var (keeper, subject) = (channels[0], channels[1]);
        try
        {
            var group = new IicChannelGroup(host.Partition);
            group.Add(keeper);
            // Never added: it waits alone from the start.
            var receiving = Task.Factory.StartNew(() => subject.Receive(new byte[8]), TaskCreationOptions.LongRunning);
            WaitFor.Condition(() => subject.GetStatistics().Wait.Parks >= 1 || receiving.IsCompleted, "the lone receive parked");
            var refused = Assert.Throws<InvalidOperationException>(() => group.Add(subject));
            Assert.Contains("waiting on this channel alone", refused.Message, StringComparison.Ordinal);
            Assert.Equal(1, group.Count);
            child.Command("send", s_timeout);
            Assert.Equal(8, await receiving.WaitAsync(s_timeout)); // still raised on its own block: the refusal changed nothing
            group.Add(subject); // once the wait ended, it joins
            Assert.Equal(2, group.Count);
            child.Command("send", s_timeout);
            Assert.Same(subject, group.WaitAny(s_timeout));
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    private static void AssertInGroup(Action wait)
    {
        var e = Assert.Throws<InvalidOperationException>(wait);
        Assert.Contains("IicChannelGroup.Remove", e.Message, StringComparison.Ordinal);
    }

    private static void AssertInGroup(Func<ValueTask> wait) => AssertInGroup(() => wait().AsTask().Wait(s_timeout));

    private static void AssertInGroup(Func<ValueTask<int>> wait) => AssertInGroup(() => wait().AsTask().Wait(s_timeout));

    private static void AssertInGroup(Func<int> wait) => AssertInGroup(() => { _ = wait(); });

    private static void AssertInGroup(Func<bool> wait) => AssertInGroup(() => { _ = wait(); });
}
