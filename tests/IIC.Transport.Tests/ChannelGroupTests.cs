using IIC.Hardware;
using IIC.Transport;

namespace IIC.Transport.Tests;

public class ChannelGroupTests
{
    [Fact]
    public async Task One_thread_receives_every_message_from_300_grouped_channels_through_one_interrupt_page()
    {
        var name = "group-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = Hypervisor.Start(name);
        using var receiver = Partition.Attach(name, "receiver");
        using var listener = IicListener.Listen(receiver, "fan-in", new ChannelOptions { Grouped = true, RingCapacity = 4096 });
        var senders = Enumerable.Range(0, 3).Select(i => Partition.Attach(name, "sender" + i)).ToArray();
        var channels = new List<IicChannel>();
        var group = new IicChannelGroup(receiver, WaitStrategy.SpinThenPark(TimeSpan.FromMicroseconds(20)));
        var accepted = new List<IicChannel>();
        foreach (var sender in senders)
        {
            for (var i = 0; i < 100; i++)
            {
                channels.Add(IicChannel.Connect(sender, "fan-in", new ChannelOptions { RingCapacity = 4096 }));
                var channel = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                accepted.Add(channel);
                group.Add(channel);
            }
        }
        const int PerChannel = 20;
        var sending = Task.Factory.StartNew(() =>
        {
            for (var round = 0; round < PerChannel; round++)
            {
                for (var c = 0; c < channels.Count; c++)
                {
                    channels[c].Send(BitConverter.GetBytes((c << 16) | round));
                }
            }
        }, TaskCreationOptions.LongRunning);
        var next = new int[channels.Count];
        var buffer = new byte[16];
        var total = 0;
        while (total < channels.Count * PerChannel)
        {
            var ready = group.WaitAny(TimeSpan.FromSeconds(10));
            Assert.NotNull(ready);
            while (ready.TryReceive(buffer, out var length))
            {
                Assert.Equal(4, length);
                var value = BitConverter.ToInt32(buffer);
                var c = value >> 16;
                Assert.Equal(next[c]++, value & 0xffff);
                total++;
            }
        }
        await sending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(next, n => Assert.Equal(PerChannel, n));
        Assert.Equal(0, group.GetStatistics().ParkTimeouts);
        foreach (var channel in channels.Concat(accepted))
        {
            channel.Dispose();
        }
        foreach (var sender in senders)
        {
            sender.Dispose();
        }
    }
    [Fact]
    public void A_second_group_cannot_wait_on_a_peer_page_the_first_group_holds_until_the_first_lets_go()
    {
        var name = "group-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = Hypervisor.Start(name);
        using var receiver = Partition.Attach(name, "receiver");
        using var sender = Partition.Attach(name, "sender");
        using var listener = IicListener.Listen(receiver, "svc", new ChannelOptions { Grouped = true, RingCapacity = 4096 });
        using var out1 = IicChannel.Connect(sender, "svc", new ChannelOptions { RingCapacity = 4096 });
        using var in1 = listener.Accept(TimeSpan.FromSeconds(10));
        using var out2 = IicChannel.Connect(sender, "svc", new ChannelOptions { RingCapacity = 4096 });
        using var in2 = listener.Accept(TimeSpan.FromSeconds(10));
        var first = new IicChannelGroup(receiver);
        var second = new IicChannelGroup(receiver);
        first.Add(in1);

        // Both channels come from one peer partition, so they share one group page: a second reader of its pending
        // bits would take the first group's wake-ups.
        var refused = Assert.Throws<InvalidOperationException>(() => second.Add(in2));
        Assert.Contains("one group", refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, second.Count); // nothing changed

        first.Remove(in1); // the first group lets go of the page with its last channel from that peer
        second.Add(in2);
        second.Add(in1);
        out2.Send([1, 2, 3]);
        Assert.Same(in2, second.WaitAny(TimeSpan.FromSeconds(10)));
        Assert.True(in2.TryReceive(new byte[16], out var length));
        Assert.Equal(3, length);
    }
}
