using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Reliability.Tests;

/// <summary>
/// Round 11 (issue 17's connection cycle): a channel's close hands its window's munmap to a background thread
/// (DeferredUnmap) instead of paying 8-30 µs for it on the closing thread. What must hold: the descriptor is closed at
/// once, the mapping does go (by that thread), and an idle process is left with a parked thread that never wakes.
/// Since round 25 the windows waiting are bounded in bytes too (<see cref="DeferredUnmap.MaxHeldBytes"/>).
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

    [Fact]
    public void A_close_whose_window_would_take_the_held_bytes_past_the_bound_unmaps_its_own()
    {
        Assert.True(DeferredUnmap.Enabled, "IIC_DEFERRED_UNMAP=0 is set: this test checks the default");
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service);
        var bound = DeferredUnmap.MaxHeldBytes;
        try
        {
            const int Connections = 3;
            var byClosersBefore = DeferredUnmap.UnmappedByClosersForBytes;
            for (var i = 0; i < Connections; i++)
            {
                var client = IicChannel.Connect(host.Partition, service, null, PartitionHost.Timeout);
                var server = listener.Accept(PartitionHost.Timeout);
                // A bound below one window: no window may wait (the thread may still hold the ones closed before).
                DeferredUnmap.MaxHeldBytes = client.Endpoint.Window.Size - 1;
                var thread = DeferredUnmap.UnmappedByThread;
                var held = DeferredUnmap.HeldBytes;
                client.Dispose();
                server.Dispose();
                // Each window (two per connection, both in this process) was unmapped by its closer: none was queued.
                // Before round 25 only windows were counted, and both went to the thread.
                Assert.Equal(byClosersBefore + (2 * (i + 1)), DeferredUnmap.UnmappedByClosersForBytes);
                Assert.True(DeferredUnmap.HeldBytes <= held, $"a window was queued past the byte bound: {DeferredUnmap.HeldBytes} bytes held, {held} before");
                Assert.True(DeferredUnmap.UnmappedByThread >= thread);
            }
        }
        finally
        {
            DeferredUnmap.MaxHeldBytes = bound;
        }
        WaitFor.Condition(() => DeferredUnmap.HeldBytes == 0, "the held bytes go back to none", diagnostics: () => $"{DeferredUnmap.HeldBytes} bytes in {DeferredUnmap.Waiting} windows");
    }

    [Fact]
    public void Windows_holding_half_the_byte_bound_wake_the_unmap_thread_and_are_unmapped_by_it()
    {
        Assert.True(DeferredUnmap.Enabled, "IIC_DEFERRED_UNMAP=0 is set: this test checks the default");
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service);
        var bound = DeferredUnmap.MaxHeldBytes;
        try
        {
            var client = IicChannel.Connect(host.Partition, service, null, PartitionHost.Timeout);
            var server = listener.Accept(PartitionHost.Timeout);
            var size = client.Endpoint.Window.Size;
            WaitFor.Condition(() => DeferredUnmap.HeldBytes == 0, "the windows closed before are unmapped");
            // Room for this connection's two windows (neither is unmapped by its closer), half of it reached by one: a
            // close wakes the thread at once (by the count alone, 64 windows, a close of a default window would not).
            DeferredUnmap.MaxHeldBytes = 2 * size;
            var wakes = DeferredUnmap.ByteWakes;
            var byClosers = DeferredUnmap.UnmappedByClosersForBytes;
            var thread = DeferredUnmap.UnmappedByThread;
            client.Dispose();
            server.Dispose();
            Assert.Equal(byClosers, DeferredUnmap.UnmappedByClosersForBytes); // under the bound: both queued
            Assert.True(DeferredUnmap.ByteWakes > wakes, "no close woke the thread for the bytes held");
            WaitFor.Condition(() => DeferredUnmap.UnmappedByThread >= thread + 2, "both windows unmapped by the thread",
                diagnostics: () => $"unmapped by the thread: {DeferredUnmap.UnmappedByThread - thread}, {DeferredUnmap.HeldBytes} bytes held");
        }
        finally
        {
            DeferredUnmap.MaxHeldBytes = bound;
        }
    }

    /// <summary>
    /// Round 25b: a close that starts the unmap thread when the thread cannot start (Thread.Start throws
    /// <see cref="ThreadStartException"/> or <see cref="OutOfMemoryException"/>; DeferredUnmap's test hook throws it in a
    /// child process, whose thread no close has started yet) completes: it unmaps its own window and closes its descriptor,
    /// and the next close starts the thread. Before, a ThreadStartException escaped the close (the window's descriptor
    /// left open): the "thread-start" case failed there.
    /// </summary>
    [Theory]
    [InlineData("thread-start")]
    [InlineData("out-of-memory")]
    public void A_close_whose_unmap_thread_cannot_start_unmaps_its_own_window_and_the_next_close_starts_the_thread(string failure)
    {
        using var child = ChildProcess.Start("unmap-thread-start-fails", failure);
        child.AssertExit(0);
        Assert.Contains("ok", child.StandardOutput, StringComparison.Ordinal);
    }
}
