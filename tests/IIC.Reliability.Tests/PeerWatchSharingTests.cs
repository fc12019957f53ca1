using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 17 item 5 (round 9): a partition watches each peer process once (one pidfd in the death watcher's epoll set),
/// not each connection, and keeps the watch between connections, so a connect + close no longer costs an epoll_ctl
/// ADD and DEL on each side. A death still reaches every connection to the peer, also with the hypervisor frozen
/// (only the partition's own watch can tell then). Real processes, pidfds and windows.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class PeerWatchSharingTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Connections_to_one_peer_share_one_watch_that_outlives_them_until_the_partition_closes()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service);
        var watcher = PeerDeathWatcher.Shared;
        var client = Partition.Attach(host.Name, "watch-client", host.SocketDirectory);
        try
        {
            var channels = new List<IicChannel>();
            for (var i = 0; i < 3; i++)
            {
                channels.Add(IicChannel.Connect(client, service, null, s_timeout));
                channels.Add(listener.Accept(s_timeout));
            }
            Assert.Equal(1, watcher.WatchesOf(client)); // 3 connections to the listening partition: one watch (before: 3)
            Assert.Equal(1, watcher.WatchesOf(host.Partition));
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
            Assert.Equal(1, watcher.WatchesOf(client)); // kept for the next connection (before: 0, an ADD and a DEL per connection)

            using (var again = IicChannel.Connect(client, service, null, s_timeout))
            using (var accepted = listener.Accept(s_timeout))
            {
                again.Send("x"u8);
                Assert.Equal(1, accepted.Receive(new byte[1]));
                Assert.Equal(1, watcher.WatchesOf(client));
            }
        }
        finally
        {
            client.Dispose();
        }
        Assert.Equal(0, watcher.WatchesOf(client)); // its control socket closed: no grant can join, the idle watch ended
    }

    [Fact]
    public void A_peer_with_two_connections_on_one_watch_is_reported_dead_on_both_with_the_hypervisor_frozen()
    {
        using var host = PartitionHost.Start(inChild: true);
        var (child, channels) = host.StartChild("group-alone-peer", 4096, 2, null);
        using (child)
        {
            var watcher = PeerDeathWatcher.Shared;
            Assert.Equal(1, watcher.WatchesOf(host.Partition)); // keeper and subject: one process, one watch
            var hypervisor = host.HypervisorChild!;
            ProcSelf.Signal(hypervisor.Id, "STOP"); // from now on only our own watch can report the death
            try
            {
                WaitFor.Condition(() => ProcSelf.State(hypervisor.Id) == 'T', "the hypervisor to be stopped");
                ProcSelf.Signal(child.Id, "KILL");
                foreach (var channel in channels)
                {
                    Assert.Throws<PeerDeadException>(() => channel.TryReceive(new byte[16], out _, s_timeout));
                }
                WaitFor.Condition(() => watcher.WatchesOf(host.Partition) == 0, "the dead peer's watch to end");
            }
            finally
            {
                ProcSelf.Signal(hypervisor.Id, "CONT");
                foreach (var channel in channels)
                {
                    channel.Dispose();
                }
            }
        }
    }
}
