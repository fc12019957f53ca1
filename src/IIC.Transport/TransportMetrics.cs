using System.Diagnostics.Metrics;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The <c>IIC.Transport</c> meter: observable instruments over the plain per-channel counters (each bumped only
/// by the thread that owns it, so the hot path pays nothing for metrics). Values are summed per channel name,
/// which keeps the number of series bounded by the number of services.
/// <c>dotnet-counters monitor --counters IIC.Transport -p PID</c> shows them; <c>iic stat PID</c> shows them per service.
/// <para>The <c>iic.wake.latency</c> histogram records each measured wake-up of a parked receiver (the time from the
/// sender's doorbell to the receiver running), and only while a listener has enabled it.</para>
/// </summary>
public static class TransportMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "IIC.Transport";

    private const string ServiceTag = "iic.service";

    private static readonly object s_lock = new();
    private static readonly List<IicChannel> s_channels = [];
    private static readonly Meter s_meter = new(MeterName, "1.0");

    /// <summary>The wake-up latency histogram's name.</summary>
    public const string WakeLatencyInstrumentName = "iic.wake.latency";

    /// <summary>
    /// Wake-up latency in µs: the time from a sender's doorbell to the parked receiver running, measured by the
    /// receiver on each real wake. Recorded only while a listener has the instrument enabled.
    /// </summary>
    public static Histogram<double> WakeLatency { get; } = s_meter.CreateHistogram<double>(WakeLatencyInstrumentName, "us",
        "Time from a sender's doorbell to the parked receiver running (each real wake; recorded only while listened to).");

    static TransportMetrics()
    {
        Counter("iic.messages.sent", "{message}", "Messages sent.", c => c.Endpoint.MessagesSent);
        Counter("iic.messages.received", "{message}", "Messages received.", c => c.Endpoint.MessagesReceived);
        Counter("iic.bytes.sent", "By", "Payload bytes sent.", c => c.Endpoint.BytesSent);
        Counter("iic.bytes.received", "By", "Payload bytes received.", c => c.Endpoint.BytesReceived);
        Counter("iic.signals.raised", "{signal}", "Doorbells that woke a sleeping receiver (futex wakes).", c => c.Endpoint.Doorbell.SignalsRaised);
        Counter("iic.signals.suppressed", "{signal}", "Doorbells skipped because the receiver was spinning or already signalled.", c => c.Endpoint.Doorbell.SignalsSuppressed);
        Counter("iic.parks", "{park}", "Times a receiver slept in the kernel.", c => c.Endpoint.Waiter.Parks);
        Counter("iic.park.timeouts", "{park}", "Parks that ended by timeout rather than a wake.", c => c.Endpoint.Waiter.ParkTimeouts);
        Counter("iic.spin.hits", "{wait}", "Waits that ended while spinning.", c => c.Endpoint.Waiter.SpinHits);
        Counter("iic.ring.full_stalls", "{stall}", "Sends that found the ring full and waited (back pressure).", c => c.Endpoint.RingFullStalls);
        Counter("iic.faults", "{fault}", "Ring protocol faults (RingFaultException thrown: a buggy or hostile peer).", c => c.Endpoint.Faults);
        s_meter.CreateObservableUpDownCounter("iic.partitions.active", static () => (long)Partition.LiveCount, "{partition}", "Partitions attached to a hypervisor in this process.");
        s_meter.CreateObservableUpDownCounter("iic.channels.active", () => Sum(static _ => 1L), "{channel}", "Open channels.");
        s_meter.CreateObservableGauge("iic.ring.occupancy", () => Sum(static c => Math.Max(0, c.Endpoint.OutgoingOccupancy)), "By", "Bytes sent and not yet consumed.");
        s_meter.CreateObservableGauge("iic.wait.spin_budget", () => Sum(static c => (long)c.Endpoint.Waiter.CurrentSpinBudget.TotalMicroseconds), "us", "The spin budget each receiver's next wait will use.");
        s_meter.CreateObservableGauge("iic.wait.wake_latency", () => Sum(static c => (long)c.Endpoint.Waiter.WakeLatency.TotalMicroseconds), "us", "The wake-up latency each receiver has learned.");
    }

    internal static void Register(IicChannel channel)
    {
        Waiter.WakeLatencyHistogram = WakeLatency;
        channel.Endpoint.Window.GetRing(0).Service = channel.Options.Name; // named in RingFault trace events
        channel.Endpoint.Window.GetRing(1).Service = channel.Options.Name;
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

    private static void Counter(string name, string unit, string description, Func<IicChannel, long> read)
        => s_meter.CreateObservableCounter(name, () => Sum(read), unit, description);

    private static List<Measurement<long>> Sum(Func<IicChannel, long> read)
    {
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        lock (s_lock)
        {
            foreach (var channel in s_channels)
            {
                totals[channel.Options.Name] = totals.GetValueOrDefault(channel.Options.Name) + read(channel);
            }
        }
        var measurements = new List<Measurement<long>>(totals.Count);
        foreach (var (service, value) in totals)
        {
            measurements.Add(new Measurement<long>(value, new KeyValuePair<string, object?>(ServiceTag, service)));
        }
        return measurements;
    }
}
