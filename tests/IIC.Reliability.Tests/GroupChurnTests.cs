using System.Globalization;
using IIC.Tests;
using IIC.TestHost;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 12's edges: honest use of grouped channels never demotes a peer's group page to polling. A channel removed
/// from the group but still open (read with TryReceive, no wait), and channels that open and close without a message,
/// used to raise vectors the group no longer held; each such event counted against the page, and after 32 the page
/// of an honest peer was demoted to 1 ms polling. The hostile side of the same rule is GroupIsolationTests ("page").
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class GroupChurnTests
{
    private const int Messages = 100; // each a fresh raise on the removed channel's vector before the fix: 3x the limit
    private const int Churns = 60;

    [Fact]
    public void Removed_but_open_and_churned_channels_never_demote_an_honest_peers_page()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service, new ChannelOptions { Grouped = true, RingCapacity = 1 << 16 });
        using var child = ChildProcess.Start("gc-honest", host.Name, host.SocketDirectory, service,
            Messages.ToString(CultureInfo.InvariantCulture), Churns.ToString(CultureInfo.InvariantCulture));
        using var keeper = listener.Accept(PartitionHost.Timeout);
        using var removed = listener.Accept(PartitionHost.Timeout);
        Assert.Equal("connected", child.ReadLine(PartitionHost.Timeout));
        var group = new IicChannelGroup(host.Partition);
        group.Add(keeper);
        group.Add(removed);
        group.Remove(removed); // still open: this thread reads it without waiting, between the group's waits

        child.WriteLine("send");
        var buffer = new byte[64];
        var received = 0;
        var deadline = DateTime.UtcNow + PartitionHost.Timeout;
        while (received < Messages)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {received} of {Messages} messages arrived on the removed channel");
            Assert.Null(group.WaitAny(TimeSpan.FromMilliseconds(1))); // the keeper is silent: the group takes whatever the page raised
            while (removed.TryReceive(buffer, out var length))
            {
                Assert.Equal(received, BitConverter.ToInt32(buffer, 0));
                Assert.Equal(8, length);
                received++;
                removed.Send(buffer.AsSpan(0, 1));
            }
        }
        Assert.Equal("sent", child.ReadLine(PartitionHost.Timeout));
        Assert.Equal(0, group.Receiver.Pages.Demotions);

        child.WriteLine("churn");
        IicChannel? ready = null;
        for (var i = 0; i < Churns; i++)
        {
            var channel = listener.Accept(PartitionHost.Timeout);
            group.Add(channel);
            group.Remove(channel);
            channel.Dispose(); // we close first; the peer's close then raises a vector the group no longer holds
            ready = group.WaitAny(TimeSpan.FromMilliseconds(2));
            Assert.True(ready is null || (ready == keeper && i == Churns - 1), $"churn {i}: a channel the group does not hold, or the keeper too early, came back");
        }
        // The keeper's message comes after every churned close: the group took all their raises by the time it sees it.
        Assert.Same(keeper, ready ?? group.WaitAny(PartitionHost.Timeout));
        Assert.Equal("churned", child.ReadLine(PartitionHost.Timeout));
        Assert.True(keeper.TryReceive(buffer, out _));
        Assert.Equal(0, group.Receiver.Pages.Demotions);
        Assert.Single(group.Receiver.Pages.Armed.ToArray()); // the honest peer's page is still waited on
    }
}
