using System.Globalization;
using IIC.Hardware;
using IIC.Native;
using IIC.Tests;

namespace IIC.Reliability.Tests;

/// <summary>
/// Round 14: the hypervisor never maps a granted window on the connect path (HeldWindow: the header pwritten into the
/// memfd, the pool's pages committed with pwrite, retirement a close). What the partitions see of a grant must not
/// change, and the control plane's guarantee that a side that leaves is marked dead and its peer woken must hold even
/// when only the hypervisor can tell (the partition that left is alive, so no pidfd fires). In-process hypervisor and
/// partitions over the real control socket; a raw client plays the partition that hangs up.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class HeldWindowGrantTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void A_granted_window_is_mapped_by_its_two_partitions_only_and_reads_as_a_valid_zeroed_window()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = scope.Attach("held-server");
        using var client = scope.Attach("held-client");
        using var listener = server.Listen("held-svc");
        for (var i = 0; i < 6; i++) // past the pool's 4 windows: pooled and freshly created grants alike
        {
            using var connection = client.Connect("held-svc", WindowOptions.DefaultRingCapacity, s_timeout);
            using var accepted = listener.Accept(s_timeout);
            // One mapping per partition; the hypervisor (in this process too) holds the file without mapping it.
            Assert.Equal(2, MappingsOf(connection.Window.File));
            var window = accepted.Window;
            Assert.Equal(WindowOptions.DefaultRingCapacity, window.GetRing(0).Capacity);
            Assert.Equal(WindowOptions.DefaultRingCapacity, window.GetRing(1).Capacity);
            Assert.Equal(SideState.Empty, window.ReadSide(0).State); // attaching is the endpoint's (IIC.Transport), not the grant's
            Assert.Equal(SideState.Empty, window.ReadSide(1).State);
            Assert.Equal(0, window.ReadSide(1).Epoch);
            var rings = window.GetRing(0).Offset;
            Assert.True(window.Memory.GetSpan(rings, 4096).IndexOfAnyExcept((byte)0) < 0, $"grant {i}: ring 0's first page is not zero");
        }
    }

    [Fact]
    public void A_partition_that_hangs_up_alive_with_a_connection_open_is_marked_dead_by_the_hypervisor_and_its_peer_woken()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = scope.Attach("held-survivor");
        using var listener = server.Listen("held-hangup");
        var raw = RawControlClient.Connect(scope.Name, scope.Directory);
        try
        {
            raw.Attach("hangs-up");
            raw.Socket.Send(RawControlClient.ConnectMessage(2, "held-hangup", 4096, 10_000));
            using var accepted = listener.Accept(s_timeout);
            var window = accepted.Window;
            var mapped = MappingsOf(window.File);
            Assert.True(mapped == 1, $"after the grant: {mapped} mappings of the window in this process, want 1 (the survivor's; the raw client maps nothing, the hypervisor neither)");
            var page = window.GetInterruptPage(0);
            var sequence = page.ReadSequence();
            var maps = HeldWindow.HeaderMaps;

            // Alive, it hangs up with the connection open: no pidfd fires, only the hypervisor's detach can mark it.
            raw.Dispose();

            WaitFor.Condition(() => window.ReadSide(1).State == SideState.Dead, "the hypervisor did not mark the side that hung up dead", s_timeout,
                () => $"side 1: {window.ReadSide(1)}");
            var side = window.ReadSide(1);
            Assert.True(side.Epoch == 1, $"side 1 after the hang-up: {side} (want epoch 1)");
            Assert.True(sequence != page.ReadSequence(), $"the survivor's block was not rung: sequence {sequence} before and after"); // the survivor's block was rung
            Assert.True(HeldWindow.HeaderMaps > maps, $"the hypervisor made no header map for the mark ({maps} before, {HeldWindow.HeaderMaps} after)");
            WaitFor.Condition(() => hypervisor.GrantCount == 0, "the hypervisor kept the grant of a partition that left", s_timeout, () => $"{hypervisor.GrantCount} grants");
            mapped = MappingsOf(window.File);
            Assert.True(mapped == 1, $"after the mark: {mapped} mappings of the window in this process, want 1 (the hypervisor's mapping for the mark is gone again)");
        }
        finally
        {
            raw.Dispose();
        }
    }

    /// <summary>This process's mappings of <paramref name="file"/>'s inode (from /proc/self/maps).</summary>
    private static int MappingsOf(FileDescriptor file)
    {
        var inode = File.ReadAllLines("/proc/self/fdinfo/" + file.Value.ToString(CultureInfo.InvariantCulture))
            .Single(l => l.StartsWith("ino:", StringComparison.Ordinal))["ino:".Length..].Trim();
        return File.ReadAllLines("/proc/self/maps").Count(line =>
        {
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            return fields.Length >= 5 && fields[4] == inode && line.Contains("memfd:", StringComparison.Ordinal);
        });
    }
}
