namespace IIC.Isolation.Tests;

/// <summary>
/// Echo and stream between two partitions, each alone in its own user, pid, network, mount and IPC namespaces with
/// a private /tmp and /dev/shm: the memfd window, its seals, the futex doorbells and the grouped interrupt page
/// cross namespaces because they travel as descriptors over the socket, never as names.
/// </summary>
public sealed class CrossNamespaceEchoTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("sync", 2000)]  // a parked receiver: every echo needs the peer's futex wake
    [InlineData("async", 500)]
    [InlineData("group", 500)]
    [InlineData("stream", 256)] // KiB through AsStream, in odd-sized chunks
    public void Echo_between_partitions_in_separate_namespaces_delivers_every_message_intact(string mode, int count)
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        using var sockets = new SocketDirectory();
        using var hypervisor = sockets.StartHypervisor();
        using var server = NamespacedChild.Start(UserMapping.Root, sockets.Path, "echo-server", sockets.HypervisorName, sockets.Path, "server", "echo", mode);
        Assert.Equal("listening", server.ReadLine());
        using var client = NamespacedChild.Start(UserMapping.Root, sockets.Path, "echo-client", sockets.HypervisorName, sockets.Path, "client", "echo", count.ToString(System.Globalization.CultureInfo.InvariantCulture), mode);
        Assert.Equal("accepted", server.ReadLine());
        var expected = mode == "stream" ? count * 1024L : count;
        Assert.Equal($"ok {expected}", client.ReadLine());
        if (mode == "sync")
        {
            var woken = client.ReadLine();
            Assert.True(long.Parse(woken.AsSpan("woken ".Length), System.Globalization.CultureInfo.InvariantCulture) > 0, $"the parked client was never woken by the server's doorbell ({woken})");
        }
        client.AssertExit();
        Assert.Equal($"echoed {expected}", server.ReadLine());
        server.AssertExit();
        WaitFor.Condition(() => hypervisor.GrantCount == 0 && hypervisor.PartitionCount == 0, "both partitions detached and the grant released",
            diagnostics: () => $"grants {hypervisor.GrantCount}, partitions {hypervisor.PartitionCount}");
    }

    [Fact]
    public void A_namespaced_partition_sees_only_the_socket_directory_of_the_hosts_tmp_and_shm()
    {
        if (!Namespaces.Available(output))
        {
            return;
        }
        using var sockets = new SocketDirectory();
        var tmpMarker = $"/tmp/iic-ns-marker-{Guid.NewGuid():N}";
        var shmMarker = $"/dev/shm/iic-ns-marker-{Guid.NewGuid():N}";
        File.WriteAllText(tmpMarker, "host");
        File.WriteAllText(shmMarker, "host");
        try
        {
            var socketMarker = Path.Combine(sockets.Path, "marker");
            File.WriteAllText(socketMarker, "shared");
            using var probe = NamespacedChild.Start(UserMapping.Root, sockets.Path, "probe", socketMarker, tmpMarker, shmMarker);
            Assert.Equal("pid 1", probe.ReadLine()); // init of its own pid namespace
            Assert.Equal("uid 0", probe.ReadLine()); // root of its own user namespace
            Assert.Equal($"{socketMarker} exists", probe.ReadLine());
            Assert.Equal($"{tmpMarker} missing", probe.ReadLine());
            Assert.Equal($"{shmMarker} missing", probe.ReadLine());
            probe.AssertExit();
        }
        finally
        {
            File.Delete(tmpMarker);
            File.Delete(shmMarker);
        }
    }
}
