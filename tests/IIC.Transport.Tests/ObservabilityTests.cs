using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Diagnostics.Tracing;
using IIC.Hardware;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Runs alone (no other test's channels add wake-ups to the untagged latency histogram while it listens).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ObservabilitySerial
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Observability (not parallel)";
}

/// <summary>
/// The IIC.Transport meter in process: each instrument reports exactly the counts of a known workload (read with a
/// plain <see cref="MeterListener"/>), the wake-latency histogram records only while listened to, and ring faults
/// are counted and traced.
/// </summary>
[Collection(ObservabilitySerial.Name)]
public sealed class ObservabilityTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(10);

    [Fact]
    public void Counters_report_exactly_the_messages_and_bytes_of_a_known_workload()
    {
        var service = Unique("obs-counts");
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { Name = service, RingCapacity = 64 * 1024 });
        var buffer = new byte[1024];
        for (var i = 0; i < 1000; i++)
        {
            first.Send(new byte[100]);
            Assert.Equal(100, second.Receive(buffer));
        }
        for (var i = 0; i < 10; i++)
        {
            second.Send(new byte[7]);
            Assert.Equal(7, first.Receive(buffer));
        }
        // A caught-up receiver returns the space of its last messages when it next finds the ring empty
        // (RingReader.HoldBackLimit): after that the rings are empty to the byte.
        Assert.False(second.TryReceive(buffer, out _));
        Assert.False(first.TryReceive(buffer, out _));

        var values = Observe(service);
        Assert.Equal(1010, values["iic.messages.sent"]);
        Assert.Equal(1010, values["iic.messages.received"]);
        Assert.Equal((1000 * 100) + (10 * 7), values["iic.bytes.sent"]);
        Assert.Equal((1000 * 100) + (10 * 7), values["iic.bytes.received"]);
        Assert.Equal(2, values["iic.channels.active"]);
        Assert.Equal(0, values["iic.faults"]);
        Assert.Equal(0, values["iic.ring.usage"]);
        Assert.Equal(0, values["iic.ring.full_stalls"]);
        // Every send rang the doorbell once: either a futex wake or a suppressed one.
        Assert.Equal(1010, values["iic.signals.raised"] + values["iic.signals.suppressed"]);
        // The waits' counters are exactly the endpoints' own.
        Assert.Equal(first.GetStatistics().Wait.Parks + second.GetStatistics().Wait.Parks, values["iic.parks"]);
        Assert.Equal(first.GetStatistics().Wait.SpinHits + second.GetStatistics().Wait.SpinHits, values["iic.spin.hits"]);
        Assert.Equal(first.GetStatistics().Wait.ParkTimeouts + second.GetStatistics().Wait.ParkTimeouts, values["iic.park.timeouts"]);

        first.Dispose();
        second.Dispose();
        Assert.DoesNotContain("iic.channels.active", Observe(service).Keys); // closed channels drop out of every series
    }

    [Fact]
    public void Occupancy_stalls_parks_and_timeouts_are_reported_as_they_happen()
    {
        var service = Unique("obs-waits");
        var options = new ChannelOptions { Name = service, RingCapacity = 1024, WaitStrategy = WaitStrategy.Park };
        var (first, second) = IicChannel.CreatePair(options);
        using (first)
        using (second)
        {
            // Fill the 1 KiB ring without a reader: 100 B each (112 B records) until a send would wait.
            var sent = 0;
            while (first.TrySend(new byte[100]))
            {
                sent++;
            }
            Assert.False(first.TrySend(new byte[100], TimeSpan.FromMilliseconds(1))); // a stall that times out
            var values = Observe(service);
            Assert.Equal(sent, values["iic.messages.sent"]);
            Assert.Equal(first.GetStatistics().OutgoingOccupancy, values["iic.ring.usage"]);
            Assert.True(values["iic.ring.usage"] >= sent * 100, $"occupancy {values["iic.ring.usage"]} for {sent} messages");
            Assert.Equal(first.GetStatistics().RingFullStalls, values["iic.ring.full_stalls"]);
            Assert.True(values["iic.ring.full_stalls"] >= 1);

            // A receive with nothing to read parks (Park strategy) until its deadline: one park, one timeout.
            Assert.False(first.TryReceive(new byte[128], out _, TimeSpan.FromMilliseconds(20)));
            values = Observe(service);
            Assert.Equal(1, values["iic.parks"]);
            Assert.Equal(1, values["iic.park.timeouts"]);
            Assert.Equal(0, values["iic.spin.hits"]);
        }
    }

    [Fact]
    public void Partitions_count_live_attachments()
    {
        var name = Unique("obs-hv");
        var before = Global("iic.partitions.active");
        using var hypervisor = Hypervisor.Start(name);
        using (var a = Partition.Attach(name, "a"))
        using (var b = Partition.Attach(name, "b"))
        {
            Assert.Equal(before + 2, Global("iic.partitions.active"));
        }
        Assert.Equal(before, Global("iic.partitions.active"));
    }

    [Fact]
    public void Ring_faults_are_counted_per_service_and_traced_with_the_service_and_reason()
    {
        var service = Unique("obs-fault");
        using var events = new TraceCollector();
        var window = SharedWindow.Create(WindowOptions.WithCapacity(1024));
        var ring = window.GetRing(0); // side 1 reads ring 0
        using var channel = IicChannel.Open(window, 1, new ChannelOptions { Name = service });
        // A hostile peer publishes a record longer than the ring allows.
        window.Memory.WriteReleaseInt32(ring.Offset + DescriptorRing.DataOffset, 1 << 20);

        Assert.Throws<RingFaultException>(() => channel.TryReceive(new byte[64], out _));
        Assert.Throws<RingFaultException>(() => channel.TryReceive(new byte[64], out _)); // faulted for good, counted again

        Assert.Equal(2, Observe(service)["iic.faults"]);
        Assert.Equal(2, channel.GetStatistics().Faults);
        var fault = events.WaitFor(e => e.EventName == "RingFault" && (string?)e.Payload![0] == service, "a RingFault event");
        Assert.Equal("0->1", fault.Payload![1]);
        Assert.Equal(Environment.ProcessId, fault.Payload[2]);
        Assert.Contains("corrupt", (string)fault.Payload[3]!, StringComparison.Ordinal);
    }

    [Fact]
    public void Channel_open_and_close_are_traced()
    {
        var service = Unique("obs-trace");
        using var events = new TraceCollector();
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { Name = service });
        first.Dispose();
        second.Dispose();
        events.WaitFor(e => e.EventName == "ChannelOpened" && (string?)e.Payload![0] == service, "ChannelOpened");
        var closed = events.WaitFor(e => e.EventName == "ChannelClosed" && (string?)e.Payload![0] == service, "ChannelClosed");
        Assert.Equal(Environment.ProcessId, closed.Payload![2]);
    }

    [Fact]
    public void Wake_latency_histogram_records_real_wakes_only_while_a_listener_is_attached()
    {
        var service = Unique("obs-wake");
        var options = new ChannelOptions { Name = service, WaitStrategy = WaitStrategy.Park };
        var (first, second) = IicChannel.CreatePair(options);
        using (first)
        using (second)
        {
            Assert.Same(TransportMetrics.WakeDuration, Waiter.WakeLatencyHistogram);
            Assert.False(TransportMetrics.WakeDuration.Enabled); // nobody listens: the park path skips it after one check
            ParkedRoundTrips(first, second, 5);

            var recorded = new ConcurrentQueue<double>();
            using (var listener = new MeterListener())
            {
                listener.InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Name == TransportMetrics.MeterName && instrument.Name == TransportMetrics.WakeDurationInstrumentName)
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                };
                listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
                {
                    // Other tests' channels may wake too: only this service's wake-ups count here.
                    if (tags.Length == 1 && tags[0].Key == TransportMetrics.ServiceTag && (string?)tags[0].Value == service)
                    {
                        recorded.Enqueue(value);
                    }
                });
                listener.Start();
                Assert.True(TransportMetrics.WakeDuration.Enabled);
                Assert.Empty(recorded); // nothing from before the listener
                var parksBefore = second.GetStatistics().Wait.Parks;
                ParkedRoundTrips(first, second, 20);
                var parks = second.GetStatistics().Wait.Parks - parksBefore;
                Assert.InRange(recorded.Count, 1, parks);
                Assert.All(recorded, seconds => Assert.InRange(seconds, 1e-9, 0.01)); // seconds, under the 10 ms sanity cap
                Assert.Contains(recorded, seconds => Math.Abs(seconds - ((double)second.GetStatistics().Wait.LastWakeLatencyTicks / Stopwatch.Frequency)) < 1e-9);
            }
            Assert.False(TransportMetrics.WakeDuration.Enabled);
            var after = recorded.Count;
            ParkedRoundTrips(first, second, 5);
            Assert.Equal(after, recorded.Count);
        }
    }

    [Fact]
    public void Wait_gauges_report_the_largest_of_a_services_receivers_in_seconds_not_their_sum()
    {
        var service = Unique("obs-gauges");
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { Name = service, WaitStrategy = WaitStrategy.Park });
        using (first)
        using (second)
        {
            var gauges = new Dictionary<string, (double Value, string? Unit)>(StringComparer.Ordinal);
            using (var listener = new MeterListener())
            {
                listener.InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Name == TransportMetrics.MeterName && instrument.Name.StartsWith("iic.wait.", StringComparison.Ordinal))
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                };
                listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
                {
                    if (tags.Length == 1 && (string?)tags[0].Value == service)
                    {
                        gauges[instrument.Name] = (value, instrument.Unit);
                    }
                });
                listener.Start();
                listener.RecordObservableInstruments();
            }
            var latency = Math.Max(first.GetStatistics().Wait.WakeLatency.TotalSeconds, second.GetStatistics().Wait.WakeLatency.TotalSeconds);
            var budget = Math.Max(first.GetStatistics().Wait.SpinBudget.TotalSeconds, second.GetStatistics().Wait.SpinBudget.TotalSeconds);
            Assert.Equal((latency, "s"), gauges["iic.wait.wake_latency"]);
            Assert.Equal((budget, "s"), gauges["iic.wait.spin_budget"]);
        }
    }

    /// <summary>
    /// Each time: the receiver (this test's helper thread) parks on an empty ring, the sender waits until it has
    /// parked (its park count rose) and sends; the wake is real.
    /// </summary>
    private static void ParkedRoundTrips(IicChannel sender, IicChannel receiver, int count)
    {
        var buffer = new byte[64];
        for (var i = 0; i < count; i++)
        {
            var parks = receiver.GetStatistics().Wait.Parks;
            var receive = Task.Factory.StartNew(() => receiver.Receive(buffer), TaskCreationOptions.LongRunning);
            WaitFor.Condition(() => receiver.GetStatistics().Wait.Parks > parks || receive.IsCompleted, "the receiver parked");
            sender.Send(new byte[8]);
            Assert.True(receive.Wait(s_bound), "the parked receiver woke");
            Assert.Equal(8, receive.Result);
        }
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The current value of every IIC.Transport instrument for <paramref name="service"/> (one collection).</summary>
    private static Dictionary<string, long> Observe(string service)
    {
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        Collect((instrument, value, tags) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "iic.service" && (string?)tag.Value == service)
                {
                    values[instrument.Name] = value;
                }
            }
        });
        return values;
    }

    private static long Global(string instrumentName)
    {
        long? found = null;
        Collect((instrument, value, tags) =>
        {
            if (instrument.Name == instrumentName && tags.Length == 0)
            {
                found = value;
            }
        });
        return found ?? throw new InvalidOperationException($"{instrumentName} reported nothing");
    }

    private delegate void MeasurementSink(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

    private static void Collect(MeasurementSink sink)
    {
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TransportMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => sink(instrument, value, tags));
        listener.Start();
        listener.RecordObservableInstruments();
    }

    /// <summary>Collects IIC-Transport events in process.</summary>
    private sealed class TraceCollector : EventListener
    {
        private readonly ConcurrentQueue<EventWrittenEventArgs> _events = new();

        public EventWrittenEventArgs WaitFor(Func<EventWrittenEventArgs, bool> match, string what)
        {
            EventWrittenEventArgs? found = null;
            IIC.Tests.WaitFor.Condition(() => (found = _events.FirstOrDefault(match)) is not null, what);
            return found!;
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "IIC-Transport")
            {
                EnableEvents(eventSource, EventLevel.Verbose);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => _events.Enqueue(eventData);
    }
}
