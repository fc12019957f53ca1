using System.Diagnostics;
using IIC.Native;

namespace IIC.Isolation.Tests;

/// <summary>
/// Who a peer is across namespaces: pids the other side cannot see (SO_PEERPIDFD instead of pid_open), death
/// detection through that pidfd, and policy on the uids the hypervisor's own user namespace sees.
/// </summary>
public sealed class IdentityTests(ITestOutputHelper output)
{
    [Fact]
    public void A_partition_that_cannot_see_the_hypervisors_pid_attaches_and_reads_pid_0()
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        using var sockets = new SocketDirectory();
        using var hypervisor = sockets.StartHypervisor();
        using var child = NamespacedChild.Start(UserMapping.Root, sockets.Path, "who-serves", sockets.HypervisorName, sockets.Path, "blind");
        // The host's pid namespace is the child's parent: the hypervisor's pid does not exist in the child's view.
        Assert.Equal("server pid 0 uid 0", child.ReadLine());
        Assert.Equal("attached", child.ReadLine());
        child.AssertExit();
    }

    [Fact]
    public void A_hypervisor_in_namespaces_of_its_own_serves_partitions_it_cannot_see()
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        // Three sibling pid namespaces: SO_PEERCRED gives the hypervisor pid 0 for both partitions, so only the
        // socket's own pidfd (SO_PEERPIDFD) identifies them; a refused identification would drop the connection.
        using var sockets = new SocketDirectory();
        using var hypervisor = NamespacedChild.Start(UserMapping.Root, sockets.Path, "hypervisor", sockets.HypervisorName, sockets.Path, "-");
        Assert.Equal("ready 1 0", hypervisor.ReadLine());
        using var server = NamespacedChild.Start(UserMapping.Root, sockets.Path, "echo-server", sockets.HypervisorName, sockets.Path, "server", "echo", "sync");
        Assert.Equal("listening", server.ReadLine());
        using var client = NamespacedChild.Start(UserMapping.Root, sockets.Path, "echo-client", sockets.HypervisorName, sockets.Path, "client", "echo", "1000", "sync");
        Assert.Equal("accepted", server.ReadLine());
        Assert.Equal("ok 1000", client.ReadLine());
        client.AssertExit();
        Assert.Equal("echoed 1000", server.ReadLine());
        server.AssertExit();
        // The exits are the hypervisor's to notice (its event loop sees each control socket hang up, then detaches the
        // partition and frees the grant), after AssertExit returns: asked at once, a fast box reads the counts before.
        string? counts = null;
        WaitFor.Condition(() =>
        {
            hypervisor.WriteLine("counts");
            counts = hypervisor.ReadLine();
            return counts == "partitions 0 grants 0";
        }, "the hypervisor to detach both exited partitions and free their grant", diagnostics: () => $"last counts: {counts}{Environment.NewLine}{hypervisor.StandardError}");
        hypervisor.WriteLine("stop");
        Assert.Equal("stopped", hypervisor.ReadLine());
        hypervisor.AssertExit();
        Assert.DoesNotContain("could not be identified", hypervisor.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Kill9_of_a_partition_in_its_own_pid_namespace_is_reported_to_its_peer_by_a_namespaced_hypervisor()
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        const string Service = "stream-kill";
        using var sockets = new SocketDirectory();
        using var hypervisor = NamespacedChild.Start(UserMapping.Root, sockets.Path, "hypervisor", sockets.HypervisorName, sockets.Path, "-");
        Assert.Equal("ready 1 0", hypervisor.ReadLine());
        using var partition = Partition.Attach(sockets.HypervisorName, "receiver", sockets.Path);
        using var listener = IicListener.Listen(partition, Service);
        using var sender = NamespacedChild.Start(UserMapping.Root, sockets.Path, "sender", sockets.HypervisorName, sockets.Path, "sender", Service);
        using var channel = listener.Accept(TimeSpan.FromSeconds(30));
        Assert.Equal("connected", sender.ReadLine());
        var buffer = new byte[64 * 1024];
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(channel.TryReceive(buffer, out _, TimeSpan.FromSeconds(10)), $"message {i} did not arrive");
        }
        using (var victim = Process.GetProcessById(sender.HostProcessId))
        {
            victim.Kill(); // SIGKILL to pid 1 of the sender's pid namespace
        }
        var stopwatch = Stopwatch.StartNew();
        Assert.Throws<PeerDeadException>(() =>
        {
            while (stopwatch.Elapsed < TimeSpan.FromSeconds(10))
            {
                channel.TryReceive(buffer, out _, TimeSpan.FromSeconds(1)); // drains what was sent before the kill
            }
        });
        WaitFor.Condition(() =>
        {
            hypervisor.WriteLine("counts");
            return hypervisor.ReadLine() == "partitions 1 grants 0";
        }, "the hypervisor to release the dead sender (1 partition left, no grants)", diagnostics: () => hypervisor.StandardError);
        hypervisor.WriteLine("stop");
    }

    [Fact]
    public void Policy_matches_the_uid_the_hypervisor_sees_not_the_one_the_partition_calls_itself()
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        using var sockets = new SocketDirectory();
        // The child calls itself uid 4242 (its user namespace maps 4242 to our uid); the kernel translates it back.
        var ownUid = Credentials.EffectiveUserId;
        using (var hypervisor = sockets.StartHypervisor(new HashSet<uint> { Namespaces.ClaimedUid }))
        {
            using var refused = NamespacedChild.Start(UserMapping.ClaimsOtherUid, sockets.Path, "try-attach", sockets.HypervisorName, sockets.Path, "claims-4242");
            var line = refused.ReadLine();
            Assert.StartsWith("refused", line, StringComparison.Ordinal);
            Assert.Contains($"uid {ownUid})", line, StringComparison.Ordinal);
            refused.AssertExit();
        }
        using (var hypervisor = sockets.StartHypervisor())
        {
            using var admitted = NamespacedChild.Start(UserMapping.ClaimsOtherUid, sockets.Path, "try-attach", sockets.HypervisorName, sockets.Path, "is-us");
            Assert.Equal("attached", admitted.ReadLine());
            admitted.AssertExit();
        }
    }

    [Fact]
    public void The_overflow_uid_is_refused_by_default_and_admitted_only_when_listed()
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        using var sockets = new SocketDirectory();
        // A hypervisor in a user namespace with no mapping: it and every peer read as the overflow uid (65534).
        // "Same uid as me" must not admit a stranger who merely shares the overflow id.
        using (var hypervisor = NamespacedChild.Start(UserMapping.None, sockets.Path, "hypervisor", sockets.HypervisorName, sockets.Path, "-"))
        {
            Assert.Equal($"ready 1 {UserNamespace.OverflowUid}", hypervisor.ReadLine());
            var refusal = Assert.Throws<HypervisorException>(() => Partition.Attach(sockets.HypervisorName, "stranger", sockets.Path));
            Assert.Contains($"uid {UserNamespace.OverflowUid})", refusal.Message, StringComparison.Ordinal);
            hypervisor.WriteLine("stop");
            Assert.Equal("stopped", hypervisor.ReadLine());
            hypervisor.AssertExit();
        }
        using (var hypervisor = NamespacedChild.Start(UserMapping.None, sockets.Path, "hypervisor", sockets.HypervisorName, sockets.Path, UserNamespace.OverflowUid.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            Assert.StartsWith("ready 1 ", hypervisor.ReadLine(), StringComparison.Ordinal);
            using var partition = Partition.Attach(sockets.HypervisorName, "listed", sockets.Path);
            Assert.NotEqual(0u, partition.Id);
            hypervisor.WriteLine("stop");
        }
    }
}
