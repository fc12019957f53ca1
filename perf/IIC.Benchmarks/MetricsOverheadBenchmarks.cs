using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Benchmarks;

/// <summary>
/// Observability overhead: a 32-byte ping-pong round trip between this thread and an echo thread over an
/// in-process <see cref="IicChannel"/> pair, without and with a <see cref="MeterListener"/> on the whole
/// IIC.Transport meter (every instrument enabled, the wake-latency histogram included, observable instruments
/// collected once a second like dotnet-counters). <c>spin</c> (BusySpin) never sleeps: the counters' path only;
/// <c>park</c> sleeps on every message, so each round trip takes two real wakes and, with the listener, two
/// histogram records. (Adaptive is left out: on a loaded 2-core VM it flips between spinning and parking from
/// run to run, with or without a listener, which swamps any difference.)
/// </summary>
[MemoryDiagnoser]
public class MetricsOverheadBenchmarks
{
    private IicChannel _client = null!;
    private IicChannel _server = null!;
    private Thread _echo = null!;
    private MeterListener? _listener;
    private Timer? _collector;
    private readonly byte[] _message = new byte[32];
    private readonly byte[] _reply = new byte[64];
    private double _recorded;

    [Params(false, true)]
    public bool Listener { get; set; }

    [Params("spin", "park")]
    public string Wait { get; set; } = "spin";

    [GlobalSetup]
    public void Setup()
    {
        var options = new ChannelOptions
        {
            Name = "bench-" + Wait,
            WaitStrategy = Wait == "park" ? WaitStrategy.Park : WaitStrategy.BusySpin,
        };
        (_client, _server) = IicChannel.CreatePair(options);
        _echo = new Thread(Echo) { IsBackground = true, Name = "echo" };
        _echo.Start();
        if (Listener)
        {
            _listener = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == TransportMetrics.MeterName)
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => _recorded += value);
            _listener.SetMeasurementEventCallback<double>((_, value, _, _) => _recorded += value);
            _listener.Start();
            _collector = new Timer(_ => _listener.RecordObservableInstruments(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _collector?.Dispose();
        _listener?.Dispose();
        _client.Dispose(); // ends the echo thread's receive
        _echo.Join(TimeSpan.FromSeconds(5));
        _server.Dispose();
    }

    /// <summary>Round trips per invocation: long enough iterations that the timer's resolution and the pilot stage do not matter.</summary>
    private const int RoundTrips = 1000;

    [Benchmark(Description = "32 B ping-pong round trip", OperationsPerInvoke = RoundTrips)]
    public int RoundTrip()
    {
        var total = 0;
        for (var i = 0; i < RoundTrips; i++)
        {
            _client.Send(_message);
            total += _client.Receive(_reply);
        }
        return total;
    }

    private void Echo()
    {
        var buffer = new byte[64];
        try
        {
            while (true)
            {
                var length = _server.Receive(buffer);
                _server.Send(buffer.AsSpan(0, length));
            }
        }
        catch (IicChannelClosedException)
        {
        }
    }
}
