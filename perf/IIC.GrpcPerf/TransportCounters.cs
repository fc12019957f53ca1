using System.Diagnostics.Metrics;
using System.Globalization;
using IIC.Transport;

namespace IIC.GrpcPerf;

/// <summary>
/// This process's IICFast wait and doorbell counters (the transport's meter, summed over its channels), read around the
/// measured unary calls: where a native call's tail comes from. A call whose peer's reader thread had gone to sleep pays
/// a kernel wake-up (tens of µs on this VM): this side's <c>signals raised</c> count those, its <c>parks</c> the times its
/// own reader slept waiting for the reply.
/// </summary>
internal static class TransportCounters
{
    /// <summary>The counters at one moment.</summary>
    internal readonly record struct Snapshot(long Parks, long SignalsRaised, long SpinHits)
    {
        public static Snapshot operator -(Snapshot a, Snapshot b) => new(a.Parks - b.Parks, a.SignalsRaised - b.SignalsRaised, a.SpinHits - b.SpinHits);

        /// <summary>Per call, for the unary line.</summary>
        public string Describe(int calls) => string.Create(CultureInfo.InvariantCulture,
            $"client parks {Parks} ({Parks / (double)Math.Max(1, calls):0.0000} per call), doorbell wakes of the server {SignalsRaised} ({SignalsRaised / (double)Math.Max(1, calls):0.0000} per call), spin hits {SpinHits}");
    }

    /// <summary>Reads the counters now (allocates: call it outside a measured span).</summary>
    public static Snapshot Read()
    {
        long parks = 0, signals = 0, spins = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == TransportMetrics.MeterName && instrument.Name is "iic.parks" or "iic.signals.raised" or "iic.spin.hits")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "iic.parks":
                    parks += value;
                    break;
                case "iic.signals.raised":
                    signals += value;
                    break;
                default:
                    spins += value;
                    break;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return new Snapshot(parks, signals, spins);
    }
}
