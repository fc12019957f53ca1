using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace IIC.Cli.Stat;

/// <summary>
/// Reads one meter's instruments from another .NET process over EventPipe, the way <c>dotnet-counters</c> does:
/// a session on the runtime's <c>System.Diagnostics.Metrics</c> provider (MetricsEventSource) with our own
/// session id, the meter filter and a refresh interval; the values arrive as CounterRateValuePublished,
/// UpDownCounterRateValuePublished, GaugeValuePublished and HistogramValuePublished events, parsed with
/// TraceEvent. After every collection interval (CollectionStop) the latest values form a new
/// <see cref="StatSnapshot"/>. Used by <c>iic stat</c> and by the cross-process tests.
/// </summary>
internal sealed class MetricsReader : IDisposable
{
    /// <summary>The runtime's metrics provider.</summary>
    public const string MetricsProvider = "System.Diagnostics.Metrics";

    private const long MessagesKeyword = 0x1;
    private const long TimeSeriesValuesKeyword = 0x2;
    private const long InstrumentPublishingKeyword = 0x4;

    private readonly object _lock = new();
    private readonly string _sessionId;
    private readonly string _meterName;
    private readonly EventPipeSession _session;
    private readonly EventPipeEventSource _source;
    private readonly Task _processing;
    private readonly Dictionary<(string Service, string Instrument), StatValue> _current = new();
    private StatSnapshot? _latest;
    private int _collections;
    private bool _instrumentsSeen;
    private string? _error;
    private bool _ended;
    private int _disposed;

    private MetricsReader(int processId, string meterName, string sessionId, EventPipeSession session)
    {
        ProcessId = processId;
        _sessionId = sessionId;
        _meterName = meterName;
        _session = session;
        _source = new EventPipeEventSource(session.EventStream);
        _source.Dynamic.All += OnEvent;
        _processing = Task.Factory.StartNew(Process, TaskCreationOptions.LongRunning);
    }

    /// <summary>The process read from.</summary>
    public int ProcessId { get; }

    /// <summary>Whether any instrument of the meter was seen (published or reporting values).</summary>
    public bool InstrumentsSeen
    {
        get
        {
            lock (_lock)
            {
                return _instrumentsSeen;
            }
        }
    }

    /// <summary>Whether the event stream ended (the process exited or the session stopped).</summary>
    public bool Ended
    {
        get
        {
            lock (_lock)
            {
                return _ended;
            }
        }
    }

    /// <summary>An error the target's MetricsEventSource reported (e.g. another tool holds its single session), or null.</summary>
    public string? Error
    {
        get
        {
            lock (_lock)
            {
                return _error;
            }
        }
    }

    /// <summary>
    /// Attaches to <paramref name="processId"/> and starts reading <paramref name="meterName"/> every
    /// <paramref name="refreshSeconds"/> seconds.
    /// </summary>
    /// <exception cref="StatException">No such process, or it cannot be attached to (not .NET, diagnostics disabled, another user).</exception>
    public static MetricsReader Start(int processId, string meterName = "IIC.Transport", int refreshSeconds = 1)
    {
        EnsureProcessExists(processId);
        var sessionId = Guid.NewGuid().ToString();
        var arguments = new Dictionary<string, string>
        {
            ["SessionId"] = sessionId,
            ["Metrics"] = meterName,
            ["RefreshInterval"] = refreshSeconds.ToString(CultureInfo.InvariantCulture),
            ["MaxTimeSeries"] = "1000",
            ["MaxHistograms"] = "20",
        };
        var providers = new[]
        {
            new EventPipeProvider(MetricsProvider, EventLevel.Informational, MessagesKeyword | TimeSeriesValuesKeyword | InstrumentPublishingKeyword, arguments),
        };
        EventPipeSession session;
        try
        {
            session = new DiagnosticsClient(processId).StartEventPipeSession(providers, requestRundown: false);
        }
        catch (ServerNotAvailableException e)
        {
            throw new StatException(
                $"Cannot attach to process {processId}: it has no .NET diagnostics socket (not a .NET process, started with DOTNET_EnableDiagnostics=0, " +
                "in another container or /tmp, or owned by another user).", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException or TimeoutException or ServerErrorException)
        {
            throw new StatException($"Cannot attach to process {processId}: {e.Message}", e);
        }
        return new MetricsReader(processId, meterName, sessionId, session);
    }

    /// <summary>The snapshot after the most recent collection interval, or null before the first one.</summary>
    public StatSnapshot? Latest
    {
        get
        {
            lock (_lock)
            {
                return _latest;
            }
        }
    }

    /// <summary>
    /// Waits until a snapshot satisfies <paramref name="condition"/> (checked after every collection interval) or
    /// <paramref name="timeout"/> passes or the stream ends.
    /// </summary>
    /// <returns>The satisfying snapshot, or null.</returns>
    public StatSnapshot? WaitFor(Func<StatSnapshot, bool> condition, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var start = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            while (true)
            {
                if (_latest is { } latest && condition(latest))
                {
                    return latest;
                }
                var left = timeout - Stopwatch.GetElapsedTime(start);
                if (_ended || left <= TimeSpan.Zero)
                {
                    return null;
                }
                Monitor.Wait(_lock, left);
            }
        }
    }

    /// <summary>Waits until the meter's instruments were seen, the stream ended, or <paramref name="timeout"/> passed.</summary>
    /// <returns>Whether they were seen.</returns>
    public bool WaitForInstruments(TimeSpan timeout)
    {
        var start = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            while (!_instrumentsSeen)
            {
                var left = timeout - Stopwatch.GetElapsedTime(start);
                if (_ended || left <= TimeSpan.Zero)
                {
                    return false;
                }
                Monitor.Wait(_lock, left);
            }
            return true;
        }
    }

    /// <summary>Stops the session (bounded) and releases it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            _session.Stop();
        }
        catch (Exception e) when (e is ServerNotAvailableException or IOException or TimeoutException or ServerErrorException or ObjectDisposedException or UnauthorizedAccessException)
        {
            // The process is gone: the stream ends by itself.
        }
        if (!_processing.Wait(TimeSpan.FromSeconds(5)))
        {
            _source.StopProcessing();
        }
        _session.Dispose();
        _source.Dispose();
    }

    private static void EnsureProcessExists(int processId)
    {
        if (processId <= 0)
        {
            throw new StatException($"{processId} is not a process id.");
        }
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            if (process.HasExited)
            {
                throw new StatException($"Process {processId} has exited.");
            }
        }
        catch (ArgumentException)
        {
            throw new StatException($"No process with id {processId} is running.");
        }
        catch (InvalidOperationException)
        {
            throw new StatException($"No process with id {processId} is running.");
        }
    }

    private void Process()
    {
        try
        {
            _source.Process();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or EndOfStreamException or InvalidOperationException)
        {
            // The stream broke off (the process exited mid-event).
        }
        finally
        {
            lock (_lock)
            {
                _ended = true;
                Monitor.PulseAll(_lock);
            }
        }
    }

    private void OnEvent(TraceEvent data)
    {
        if (data.ProviderName != MetricsProvider)
        {
            return;
        }
        var name = data.EventName;
        switch (name)
        {
            case "CounterRateValuePublished":
            case "UpDownCounterRateValuePublished":
            case "GaugeValuePublished":
            case "HistogramValuePublished":
                if (IsOurs(data) && Text(data, "meterName") == _meterName)
                {
                    Record(name, data);
                }
                break;
            case "BeginInstrumentReporting":
            case "InstrumentPublished":
                if (Text(data, "meterName") == _meterName)
                {
                    lock (_lock)
                    {
                        _instrumentsSeen = true;
                        Monitor.PulseAll(_lock);
                    }
                }
                break;
            case "CollectionStop":
            case "Collection/Stop":
                if (IsOurs(data))
                {
                    Publish();
                }
                break;
            case "Error":
            case "MultipleSessionsNotSupportedError":
            case "MultipleSessionsConfiguredIncorrectlyError":
            case "TimeSeriesLimitReached":
            case "HistogramLimitReached":
                if (IsOurs(data) || name.StartsWith("Multiple", StringComparison.Ordinal))
                {
                    lock (_lock)
                    {
                        _error = name + (Text(data, "errorMessage") is { Length: > 0 } message ? ": " + message : "");
                        Monitor.PulseAll(_lock);
                    }
                }
                break;
            default:
                break;
        }
    }

    private bool IsOurs(TraceEvent data) => Text(data, "sessionId") == _sessionId;

    private void Record(string eventName, TraceEvent data)
    {
        var instrument = Text(data, "instrumentName");
        var unit = Text(data, "unit");
        var service = ServiceOf(Text(data, "tags"));
        var value = new StatValue { Instrument = instrument, Unit = unit };
        switch (eventName)
        {
            case "CounterRateValuePublished":
                value.Kind = StatKind.Counter;
                value.Value = Number(data, "value");
                value.Rate = Number(data, "rate");
                break;
            case "UpDownCounterRateValuePublished":
                value.Kind = StatKind.UpDownCounter;
                value.Value = Number(data, "value");
                break;
            case "GaugeValuePublished":
                value.Kind = StatKind.Gauge;
                value.Value = Number(data, "lastValue");
                break;
            default:
                value.Kind = StatKind.Histogram;
                value.Count = Number(data, "count");
                value.Sum = Number(data, "sum");
                value.Quantiles = Quantiles(Text(data, "quantiles"));
                break;
        }
        lock (_lock)
        {
            _instrumentsSeen = true;
            _current[(service, instrument)] = value;
        }
    }

    private void Publish()
    {
        lock (_lock)
        {
            _collections++;
            if (_current.Count == 0 && _latest is null)
            {
                return;
            }
            _latest = new StatSnapshot(ProcessId, DateTimeOffset.UtcNow, _collections, _current.Select(e => (e.Key.Service, e.Value.Clone())).ToList());
            _current.Clear(); // values not reported in the next interval (a closed channel's service) drop out
            Monitor.PulseAll(_lock);
        }
    }

    private static string Text(TraceEvent data, string field) => data.PayloadByName(field) switch
    {
        null => "",
        string s => s,
        var other => Convert.ToString(other, CultureInfo.InvariantCulture) ?? "",
    };

    private static double? Number(TraceEvent data, string field)
        => double.TryParse(Text(data, field), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>The <c>iic.service</c> tag of a MetricsEventSource tag list (<c>key=value,key=value</c>), or "" for none.</summary>
    internal static string ServiceOf(string tags)
    {
        foreach (var pair in tags.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && pair.AsSpan(0, equals).Trim().SequenceEqual("iic.service"))
            {
                return pair[(equals + 1)..].Trim();
            }
        }
        return "";
    }

    /// <summary>Parses <c>0.5=1.2;0.95=3.4;0.99=5.6</c>.</summary>
    internal static Dictionary<string, double> Quantiles(string text)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var pair in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0
                && double.TryParse(pair.AsSpan(0, equals), NumberStyles.Float, CultureInfo.InvariantCulture, out var quantile)
                && double.TryParse(pair.AsSpan(equals + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                result["p" + (quantile * 100).ToString("0.#", CultureInfo.InvariantCulture)] = value;
            }
        }
        return result;
    }
}
