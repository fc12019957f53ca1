using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Reliability.Tests;

/// <summary>
/// Round 11 (issue 17's connection cycle): a channel's close hands its window's munmap to a background thread
/// (DeferredUnmap) instead of paying 8-30 µs for it on the closing thread. What must hold: the descriptor is closed at
/// once, the mapping does go (by that thread), and an idle process is left with a parked thread that never wakes.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class DeferredUnmapTests
{
    [Fact]
    public void A_closed_channels_window_is_unmapped_by_the_unmap_thread_and_its_descriptor_is_closed_at_once()
    {
        Assert.True(DeferredUnmap.Enabled, "IIC_DEFERRED_UNMAP=0 is set: this test checks the default");
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service);
        var unmappedBefore = DeferredUnmap.UnmappedByThread;
        const int Connections = 3;
        for (var i = 0; i < Connections; i++)
        {
            var client = IicChannel.Connect(host.Partition, service, null, PartitionHost.Timeout);
            var server = listener.Accept(PartitionHost.Timeout);
            client.Send("x"u8);
            Assert.True(server.TryReceive(new byte[8], out _, PartitionHost.Timeout));
            var clientFile = client.Endpoint.Window.File;
            var serverFile = server.Endpoint.Window.File;
            client.Dispose();
            server.Dispose();
            // The descriptor is not deferred: a closed connection holds no file of this process (only the mapping may linger).
            Assert.True(clientFile.IsClosed && serverFile.IsClosed, "a closed channel's window descriptor is still open");
        }
        // Each side's window (two per connection, both in this process) is unmapped by the thread: on the old code the
        // closer unmapped it and this count never moves.
        WaitFor.Condition(() => DeferredUnmap.UnmappedByThread >= unmappedBefore + (2 * Connections), "the closed windows unmapped by the unmap thread",
            diagnostics: () => $"unmapped by the thread: {DeferredUnmap.UnmappedByThread - unmappedBefore}, waiting {DeferredUnmap.Waiting}");
    }

    [Fact]
    public void After_the_closes_stop_the_unmap_thread_parks_with_nothing_queued()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service);
        for (var i = 0; i < 2 * DeferredUnmap.Batch; i++) // past one batch: the thread is woken by the count too
        {
            using var client = IicChannel.Connect(host.Partition, service, null, PartitionHost.Timeout);
            using var server = listener.Accept(PartitionHost.Timeout);
        }
        // Parked = waiting without a timeout with nothing queued: an idle process pays no wake-up for the deferral.
        WaitFor.Condition(() => DeferredUnmap.IsParked, "the unmap thread parked after an idle timeout",
            diagnostics: () => $"waiting {DeferredUnmap.Waiting}, parked {DeferredUnmap.IsParked}");
    }
}
