using System.Diagnostics.Metrics;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The <c>IIC.Transport</c> meter: observable instruments over the plain per-channel counters (each bumped only
/// by the thread that owns it, so the hot path pays nothing for metrics), one series per service (tag
/// <c>iic.service</c>), which keeps the number of series bounded by the number of services.
/// Names, units and kinds follow the OpenTelemetry conventions: UCUM units, durations in seconds (<c>s</c>, double),
/// counters for monotonic counts, up-down counters for additive amounts (open channels, bytes in rings), gauges for
/// values that must not be summed (a service's receivers' spin budget and learned wake latency: the largest is
/// reported), and the one histogram with bucket advice.
/// <c>dotnet-counters monitor --counters IIC.Transport -p PID</c> shows them; <c>iic stat PID</c> shows them per service.
/// <para>Without dependency injection the instruments live on a static meter; <see cref="UseMeterFactory"/> (called by
/// IIC.AspNetCore's registration) moves them onto a meter of the host's <see cref="IMeterFactory"/>.</para>
/// </summary>
public static class TransportMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "IIC.Transport";

    /// <summary>The wake-up duration histogram's name.</summary>
    public const string WakeDurationInstrumentName = "iic.wake.duration";

    /// <summary>The tag naming the service (the channel's name) on every per-channel series.</summary>
    public const string ServiceTag = "iic.service";

    private const string Version = "2.0";

    /// <summary>Bucket boundaries (s) for wake-ups: 1 µs to 10 ms, the range a futex wake lands in (longer ones are not recorded).</summary>
    private static readonly double[] s_wakeBuckets = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2];

    private static readonly Lock s_lock = new();
    private static readonly List<IicChannel> s_channels = [];
    private static readonly List<Meter> s_factoryMeters = [];
    private static Meter s_meter;

    static TransportMetrics()
    {
        s_meter = CreateInstruments(new Meter(MeterName, Version)); // after the field initializers above (the lock, the buckets)
    }

    /// <summary>The meter the instruments were last created on (the static default, or the latest one <see cref="UseMeterFactory"/> created).</summary>
    public static Meter Meter => s_meter;

    /// <summary>
    /// Wake-up duration in seconds: the time from a sender's doorbell to the parked receiver running, measured by the
    /// receiver on each real wake, tagged with the service. Recorded only while a listener has the instrument enabled.
    /// </summary>
    public static Histogram<double> WakeDuration { get; private set; } = null!; // set by CreateInstruments

    /// <summary>
    /// Creates the instruments on a meter of <paramref name="meterFactory"/> (the .NET guidance for libraries in a host:
    /// the meter's lifetime and scope are the container's) and disposes the static default meter, so nothing is reported
    /// twice. Every factory's meter reports this process's channels (the registry is process-wide); the wake-up
    /// histogram records into the most recent one. Calling it again with the same factory does nothing.
    /// </summary>
    /// <returns>The factory's IIC.Transport meter.</returns>
    public static Meter UseMeterFactory(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        lock (s_lock)
        {
            if (s_factoryMeters.Find(m => ReferenceEquals(m.Scope, meterFactory)) is { } existing)
            {
                return existing;
            }
            var meter = CreateInstruments(meterFactory.Create(new MeterOptions(MeterName) { Version = Version }));
            s_factoryMeters.Add(meter);
            if (s_meter.Scope is null)
            {
                s_meter.Dispose(); // the static default: from now on the hosts' meters report
            }
            s_meter = meter;
            return meter;
        }
    }

    private static Meter CreateInstruments(Meter meter)
    {
        Counter(meter, "iic.messages.sent", "{message}", "Messages sent.", static c => c.Endpoint.MessagesSent);
        Counter(meter, "iic.messages.received", "{message}", "Messages received.", static c => c.Endpoint.MessagesReceived);
        Counter(meter, "iic.bytes.sent", "By", "Payload bytes sent.", static c => c.Endpoint.BytesSent);
        Counter(meter, "iic.bytes.received", "By", "Payload bytes received.", static c => c.Endpoint.BytesReceived);
        Counter(meter, "iic.signals.raised", "{signal}", "Doorbells that woke a sleeping receiver (futex wakes).", static c => c.Endpoint.Doorbell.SignalsRaised);
        Counter(meter, "iic.signals.suppressed", "{signal}", "Doorbells skipped because the receiver was spinning or already signalled.", static c => c.Endpoint.Doorbell.SignalsSuppressed);
        Counter(meter, "iic.parks", "{park}", "Times a receiver slept in the kernel.", static c => c.Endpoint.Waiter.Parks);
        Counter(meter, "iic.park.timeouts", "{park}", "Parks that ended by timeout rather than a wake.", static c => c.Endpoint.Waiter.ParkTimeouts);
        Counter(meter, "iic.spin.hits", "{wait}", "Waits that ended while spinning.", static c => c.Endpoint.Waiter.SpinHits);
        Counter(meter, "iic.ring.full_stalls", "{stall}", "Sends that found the ring full and waited (back pressure).", static c => c.Endpoint.RingFullStalls);
        Counter(meter, "iic.messages.refused", "{message}", "Fragmented messages over the receiver's MaxReceiveMessageLength, dropped unread (ReceiveLimitExceededException).", static c => c.Endpoint.RefusedReceives);
        Counter(meter, "iic.faults", "{fault}", "Ring protocol faults (RingFaultException thrown: a buggy or hostile peer).", static c => c.Endpoint.Faults);
        meter.CreateObservableUpDownCounter("iic.partitions.active", static () => (long)Partition.LiveCount, "{partition}", "Partitions attached to a hypervisor in this process (process-wide: no service tag).");
        meter.CreateObservableUpDownCounter("iic.channels.active", static () => PerService(static _ => 1L, Sum), "{channel}", "Open channel ends.");
        meter.CreateObservableUpDownCounter("iic.ring.usage", static () => PerService(static c => Math.Max(0, c.ReadOutgoingOccupancy()), Sum), "By", "Bytes sent and not yet returned by the receiver (summed over the service's rings; a caught-up receiver returns its last few KiB at its next receive).");
        meter.CreateObservableGauge("iic.wait.spin_budget", static () => PerService(static c => c.Endpoint.Waiter.CurrentSpinBudget.TotalSeconds, Math.Max), "s",
            "The spin budget the service's receivers' next waits will use (the largest among them).");
        meter.CreateObservableGauge("iic.wait.wake_latency", static () => PerService(static c => c.Endpoint.Waiter.WakeLatency.TotalSeconds, Math.Max), "s",
            "The wake-up latency the service's receivers have learned (the largest among them).");
        WakeDuration = meter.CreateHistogram(WakeDurationInstrumentName, "s",
            "Time from a sender's doorbell to the parked receiver running (each real wake; recorded only while listened to).",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_wakeBuckets });
        Waiter.WakeLatencyHistogram = WakeDuration;
        return meter;
    }

    internal static void Register(IicChannel channel)
    {
        var service = channel.Options.Name;
        channel.Endpoint.Window.GetRing(0).Service = service; // named in RingFault trace events
        channel.Endpoint.Window.GetRing(1).Service = service;
        channel.Endpoint.Waiter.MetricTag = new KeyValuePair<string, object?>(ServiceTag, service); // the wake histogram's service tag
        lock (s_lock)
        {
            s_channels.Add(channel);
        }
    }

    internal static void Unregister(IicChannel channel)
    {
        lock (s_lock)
        {
            s_channels.Remove(channel);
        }
    }

    private static void Counter(Meter meter, string name, string unit, string description, Func<IicChannel, long> read)
        => meter.CreateObservableCounter(name, () => PerService(read, Sum), unit, description);

    private static long Sum(long a, long b) => a + b;

    /// <summary>One measurement per service: <paramref name="combine"/> over the service's open channel ends.</summary>
    private static List<Measurement<T>> PerService<T>(Func<IicChannel, T> read, Func<T, T, T> combine)
        where T : struct
    {
        var totals = new Dictionary<string, T>(StringComparer.Ordinal);
        lock (s_lock)
        {
            foreach (var channel in s_channels)
            {
                var value = read(channel);
                totals[channel.Options.Name] = totals.TryGetValue(channel.Options.Name, out var total) ? combine(total, value) : value;
            }
        }
        var measurements = new List<Measurement<T>>(totals.Count);
        foreach (var (service, value) in totals)
        {
            measurements.Add(new Measurement<T>(value, new KeyValuePair<string, object?>(ServiceTag, service)));
        }
        return measurements;
    }
}
