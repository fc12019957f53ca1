using System.Diagnostics.Metrics;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Transport.Tests;

/// <summary>
/// Statistics and gauges of a channel whose window is gone (a closed connection's channel): they return the last counters
/// and never touch unmapped memory, also while another thread disposes the channel (before the fix GetStatistics read
/// the ring's tail and head after munmap: AccessViolationException, the test host died).
/// </summary>
[Collection(ObservabilitySerial.Name)]
public sealed class StatisticsAfterDisposeTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(30);

    [Fact]
    public void GetStatistics_after_both_ends_are_disposed_returns_the_last_counters()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        first.Send(new byte[100]);
        first.Send(new byte[50]);
        Assert.Equal(100, second.Receive(new byte[256]));
        var before = first.GetStatistics();
        Assert.True(before.OutgoingOccupancy > 0);
        first.Dispose();
        second.Dispose(); // the last owner: the window is unmapped now

        var after = first.GetStatistics();
        Assert.Equal(2, after.MessagesSent);
        Assert.Equal(150, after.BytesSent);
        Assert.Equal(0, after.OutgoingOccupancy);
        var received = second.GetStatistics();
        Assert.Equal(1, received.MessagesReceived);
        Assert.Equal(100, received.BytesReceived);
    }

    [Fact]
    public async Task GetStatistics_racing_Dispose_on_another_thread_never_touches_unmapped_memory()
    {
        using var go = new Barrier(2);
        for (var round = 0; round < 1000; round++)
        {
            var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
            first.Send(new byte[64]);
            second.Dispose(); // first is the window's last owner: its Dispose unmaps
            var reader = Task.Factory.StartNew(() =>
            {
                go.SignalAndWait();
                long reads = 0;
                while (true)
                {
                    var stats = first.GetStatistics();
                    Assert.Equal(1, stats.MessagesSent);
                    reads++;
                    if (first.IsDisposed && reads > 1)
                    {
                        Assert.Equal(0, first.GetStatistics().OutgoingOccupancy); // once disposed: read after the unmap
                        return;
                    }
                }
            }, TaskCreationOptions.LongRunning);
            go.SignalAndWait();
            first.Dispose();
            await reader.WaitAsync(s_bound);
        }
    }

    [Fact]
    public async Task Ring_usage_gauge_collection_after_close_and_racing_close_reads_no_unmapped_memory()
    {
        var service = "stats-gauge-" + Guid.NewGuid().ToString("N");
        long usage = -1;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TransportMetrics.MeterName && instrument.Name == "iic.ring.usage")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (tags.Length == 1 && (string?)tags[0].Value == service)
            {
                Volatile.Write(ref usage, value);
            }
        });
        listener.Start();

        var (first, second) = IicChannel.CreatePair(new ChannelOptions { Name = service, RingCapacity = 4096 });
        first.Send(new byte[100]);
        listener.RecordObservableInstruments();
        Assert.True(Volatile.Read(ref usage) > 0, "the gauge did not report the open channel's ring");
        first.Dispose();
        second.Dispose();
        Volatile.Write(ref usage, -1);
        listener.RecordObservableInstruments(); // closed channels are not reported, nor read
        Assert.Equal(-1, Volatile.Read(ref usage));

        using var go = new Barrier(2);
        for (var round = 0; round < 200; round++)
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { Name = service, RingCapacity = 4096 });
            a.Send(new byte[64]);
            b.Dispose();
            var collector = Task.Factory.StartNew(() =>
            {
                go.SignalAndWait();
                while (!a.IsDisposed)
                {
                    listener.RecordObservableInstruments();
                }
                listener.RecordObservableInstruments();
            }, TaskCreationOptions.LongRunning);
            go.SignalAndWait();
            a.Dispose();
            await collector.WaitAsync(s_bound);
        }
    }
}
