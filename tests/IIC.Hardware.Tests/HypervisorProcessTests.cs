using System.Diagnostics;
using IIC.Tests;
using IIC.TestHost;
using IIC.Transport;

namespace IIC.Hardware.Tests;

/// <summary>The hypervisor and partitions in real processes: echo both ways, SIGKILL of a sender and of the hypervisor.</summary>
public class HypervisorProcessTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public void Hypervisor_here_partitions_in_children_attach_listen_connect_echo_and_detach()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = ChildProcess.Start("hv-echo-server", scope.Name, scope.Directory, "server", "echo");
        Assert.Equal("listening", server.ReadLine());
        using var client = ChildProcess.Start("hv-echo-client", scope.Name, scope.Directory, "client", "echo", "500");
        Assert.Equal("accepted", server.ReadLine());
        Assert.Equal("ok 500", client.ReadLine());
        client.AssertExit(0);
        Assert.Equal("echoed 500", server.ReadLine());
        server.AssertExit(0);
        WaitFor.Condition(() => hypervisor.PartitionCount == 0 && hypervisor.GrantCount == 0,
            "both partitions detached and the grant released", s_timeout,
            () => $"partitions {hypervisor.PartitionCount}, grants {hypervisor.GrantCount}");
    }

    [Fact]
    public void Hypervisor_in_a_child_serves_this_process_and_another_child_both_ways()
    {
        using var scope = new HypervisorScope();
        using var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory);
        Assert.StartsWith("ready ", host.ReadLine());
        using var server = ChildProcess.Start("hv-echo-server", scope.Name, scope.Directory, "server", "echo");
        Assert.Equal("listening", server.ReadLine());
        using (var partition = scope.Attach("client"))
        {
            Assert.Equal(host.Id, partition.HypervisorProcessId);
            using var channel = IicChannel.Connect(partition, "echo", new ChannelOptions { RingCapacity = 64 * 1024 }, s_timeout);
            Echo(channel, 0, 300);
            Assert.Equal(server.Id, channel.Endpoint.Window.ReadSide(0).ProcessId); // the echoes came from the server's side
        }
        Assert.Equal("accepted", server.ReadLine());
        Assert.Equal("echoed 300", server.ReadLine());
        server.AssertExit(0);
        host.WriteLine("stop");
        Assert.Equal("stopped", host.ReadLine());
        host.AssertExit(0);
        Assert.False(File.Exists(scope.SocketPath), "the hypervisor removed its socket when it stopped");
    }

    [Fact]
    public async Task A_PeerDied_handler_may_make_requests_of_its_own_partition()
    {
        // The thread that reads a death notice (the partition's reader, the peer-death watcher) is the one that reads
        // replies; a handler run on it that listened would wait for itself until its timeout.
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var partition = scope.Attach("survivor");
        using var listener = IicListener.Listen(partition, "doomed");
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        partition.PeerDied += (_, _) =>
        {
            try
            {
                // On a pool thread, never the reader's or the death watcher's (which read the answers to requests).
                var where = Thread.CurrentThread.IsThreadPoolThread ? "pool" : Thread.CurrentThread.Name ?? "unnamed thread";
                using var second = IicListener.Listen(partition, "after-death");
                outcome.TrySetResult("listened on " + where);
            }
            catch (Exception e)
            {
                outcome.TrySetResult(e.GetType().Name + ": " + e.Message);
            }
        };
        using var sender = ChildProcess.Start("hv-sender", scope.Name, scope.Directory, "doomed-sender", "doomed");
        using var channel = listener.Accept(s_timeout);
        Assert.Equal("connected", sender.ReadLine());
        sender.Process.Kill();
        Assert.Equal("listened on pool", await outcome.Task.WaitAsync(TimeSpan.FromSeconds(30))); // a TimeoutException: PeerDied never raised
    }

    [Fact]
    public void Kill9_of_a_sender_mid_stream_delivers_a_whole_prefix_then_peer_dead_within_1s_and_leaks_nothing()
    {
        // Twice: the first round also creates what a process makes once (the dispatcher's page, signal and child-process
        // pipes, pool threads' descriptors), so only the second round's growth can be a leak (run alone, the first
        // round's +11 was once-only setup, not a leak).
        KillSenderMidStream();
        var before = HypervisorTestSupport.OpenDescriptors().Count;
        KillSenderMidStream();
        var after = HypervisorTestSupport.OpenDescriptors().Count;
        Assert.True(after <= before + 4, $"descriptors: {before} before, {after} after (leak?)");
    }

    private static void KillSenderMidStream()
    {
        const string Service = "stream-kill";
        using var scope = new HypervisorScope();
        long received = 0;
        TimeSpan deadAfter;
        using (var hypervisor = scope.Start())
        using (var partition = scope.Attach("receiver"))
        using (var listener = IicListener.Listen(partition, Service))
        {
            var died = new List<int>();
            partition.PeerDied += (_, e) =>
            {
                lock (died)
                {
                    died.Add(e.PeerProcessId);
                }
            };
            using var sender = ChildProcess.Start("hv-sender", scope.Name, scope.Directory, "sender", Service);
            using var channel = listener.Accept(s_timeout);
            Assert.Equal("connected", sender.ReadLine());
            Assert.Equal(1, hypervisor.GrantCount);
            var buffer = new byte[64 * 1024];
            while (received < 5000)
            {
                Assert.True(channel.TryReceive(buffer, out var length, s_timeout), $"message {received} did not arrive");
                Assert.Null(HypervisorPattern.Check(buffer.AsSpan(0, length), received));
                received++;
            }
            var killed = Stopwatch.GetTimestamp();
            sender.Process.Kill();
            var afterKill = 0;
            while (true)
            {
                try
                {
                    Assert.True(channel.TryReceive(buffer, out var length, TimeSpan.FromSeconds(2)), "neither a message nor the peer's death arrived within 2 s");
                    Assert.Null(HypervisorPattern.Check(buffer.AsSpan(0, length), received));
                    received++;
                    afterKill++;
                }
                catch (PeerDeadException)
                {
                    deadAfter = Stopwatch.GetElapsedTime(killed);
                    break;
                }
            }
            Assert.True(deadAfter < TimeSpan.FromSeconds(1), $"the peer's death was reported {deadAfter.TotalMilliseconds:0} ms after the kill ({afterKill} messages drained after it)");
            WaitFor.Condition(() => hypervisor.GrantCount == 0 && hypervisor.PartitionCount == 1, "the dead sender's grant and partition released", s_timeout,
                () => $"grants {hypervisor.GrantCount}, partitions {hypervisor.PartitionCount}");
            WaitFor.Condition(() =>
            {
                lock (died)
                {
                    return died.Contains(sender.Id);
                }
            }, "a PeerDied notice naming the sender's pid", s_timeout);
            Assert.Throws<PeerDeadException>(() => channel.Send("late"u8));
        }
        Assert.Empty(HypervisorTestSupport.WindowDescriptors(Service));
    }

    [Fact]
    public void Kill9_of_the_hypervisor_keeps_established_channels_working_and_new_connects_fail_clearly()
    {
        using var scope = new HypervisorScope();
        using var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory);
        Assert.StartsWith("ready ", host.ReadLine());
        using var server = ChildProcess.Start("hv-echo-server", scope.Name, scope.Directory, "server", "echo");
        Assert.Equal("listening", server.ReadLine());
        using var partition = scope.Attach("client");
        using (var channel = IicChannel.Connect(partition, "echo", new ChannelOptions { RingCapacity = 64 * 1024 }, s_timeout))
        {
            Echo(channel, 0, 100);
            host.Process.Kill();
            Assert.True(host.Process.WaitForExit(s_timeout));
            WaitFor.Condition(() => !partition.IsHypervisorConnected, "the partition notices the hypervisor hung up", s_timeout);
            Echo(channel, 100, 300);
            var error = Assert.Throws<HypervisorException>(() => partition.Connect("echo", 64 * 1024, TimeSpan.Zero));
            Assert.Contains("is gone", error.Message, StringComparison.Ordinal);
            Assert.Contains("hung up", error.Message, StringComparison.Ordinal);
            Assert.Null(error.Error);
            Assert.Throws<HypervisorException>(() => partition.Listen("another"));
        }
        Assert.Equal("accepted", server.ReadLine());
        Assert.Equal("echoed 300", server.ReadLine());
        server.AssertExit(0);
        var attach = Assert.Throws<HypervisorException>(() => scope.Attach("late"));
        Assert.Contains("not running", attach.Message, StringComparison.Ordinal);
    }

    /// <summary>Sends messages <paramref name="from"/>..<paramref name="to"/> and checks each echo.</summary>
    internal static void Echo(IicChannel channel, long from, long to)
    {
        var send = new byte[4096];
        var receive = new byte[4096];
        for (var i = from; i < to; i++)
        {
            var length = HypervisorPattern.Fill(send, i);
            channel.Send(send.AsSpan(0, length));
            Assert.True(channel.TryReceive(receive, out var echoed, s_timeout), $"no echo of message {i}");
            Assert.Null(HypervisorPattern.Check(receive.AsSpan(0, echoed), i));
        }
    }
}
