using System.Globalization;
using System.Text;
using System.Text.Json;

namespace IIC.Cli.Stat;

/// <summary>What kind of instrument a value came from.</summary>
internal enum StatKind
{
    Counter,
    UpDownCounter,
    Gauge,
    Histogram,
}

/// <summary>One instrument's latest value for one service (or for the process, when the service is "").</summary>
internal sealed class StatValue
{
    public string Instrument { get; set; } = "";

    public string Unit { get; set; } = "";

    public StatKind Kind { get; set; }

    /// <summary>Counters: the cumulative total; up-down counters and gauges: the current value.</summary>
    public double? Value { get; set; }

    /// <summary>Counters: the increase over the last interval.</summary>
    public double? Rate { get; set; }

    /// <summary>Histograms: measurements in the last interval.</summary>
    public double? Count { get; set; }

    /// <summary>Histograms: their sum.</summary>
    public double? Sum { get; set; }

    /// <summary>Histograms: p50, p95, p99 of the last interval.</summary>
    public Dictionary<string, double> Quantiles { get; set; } = new(StringComparer.Ordinal);

    public StatValue Clone() => new()
    {
        Instrument = Instrument,
        Unit = Unit,
        Kind = Kind,
        Value = Value,
        Rate = Rate,
        Count = Count,
        Sum = Sum,
        Quantiles = new Dictionary<string, double>(Quantiles, StringComparer.Ordinal),
    };
}

/// <summary>The IIC counters of one process after one collection interval, per service.</summary>
internal sealed class StatSnapshot
{
    /// <summary>The order (and short headings) of the table's rows; instruments not listed follow by name.</summary>
    private static readonly (string Instrument, string Heading)[] s_rows =
    [
        ("iic.channels.active", "channels"),
        ("iic.messages.sent", "messages sent"),
        ("iic.messages.received", "messages received"),
        ("iic.bytes.sent", "bytes sent"),
        ("iic.bytes.received", "bytes received"),
        ("iic.signals.raised", "signals raised"),
        ("iic.signals.suppressed", "signals suppressed"),
        ("iic.spin.hits", "spin hits"),
        ("iic.parks", "parks"),
        ("iic.park.timeouts", "park timeouts"),
        ("iic.ring.full_stalls", "ring-full stalls"),
        ("iic.faults", "faults"),
        ("iic.messages.refused", "messages refused"),
        ("iic.ring.usage", "ring usage (B)"),
        ("iic.wait.spin_budget", "spin budget (us)"),
        ("iic.wait.wake_latency", "learned wake latency (us)"),
    ];

    public StatSnapshot(int processId, DateTimeOffset time, int interval, IReadOnlyList<(string Service, StatValue Value)> values)
    {
        ProcessId = processId;
        Time = time;
        Interval = interval;
        Values = values;
    }

    public int ProcessId { get; }

    public DateTimeOffset Time { get; }

    /// <summary>The collection interval's sequence number in this session.</summary>
    public int Interval { get; }

    public IReadOnlyList<(string Service, StatValue Value)> Values { get; }

    /// <summary>The services with per-service values, sorted.</summary>
    public IReadOnlyList<string> Services => Values.Select(v => v.Service).Where(s => s.Length > 0).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>The value of <paramref name="instrument"/> for <paramref name="service"/> ("" for process-wide ones), or null.</summary>
    public StatValue? Find(string service, string instrument)
    {
        foreach (var (s, v) in Values)
        {
            if (s == service && v.Instrument == instrument)
            {
                return v;
            }
        }
        return null;
    }

    /// <summary>The counter total / current value of <paramref name="instrument"/> for <paramref name="service"/>, or null.</summary>
    public double? Get(string service, string instrument) => Find(service, instrument)?.Value;

    /// <summary>
    /// One JSON object: <c>pid</c>, <c>processName</c>, <c>time</c>, <c>services</c> (per service: instrument name to
    /// counter total or current value), <c>global</c> (instruments without a service, e.g. iic.partitions.active)
    /// and <c>histograms</c> (count, sum and p50/p95/p99 over the last interval).
    /// </summary>
    public string ToJson(string? processName)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("pid", ProcessId);
            if (processName is not null)
            {
                json.WriteString("processName", processName);
            }
            json.WriteString("time", Time);
            json.WriteStartObject("services");
            foreach (var service in Services)
            {
                json.WriteStartObject(service);
                foreach (var (_, value) in Values.Where(v => v.Service == service && v.Value.Kind != StatKind.Histogram).OrderBy(v => v.Value.Instrument, StringComparer.Ordinal))
                {
                    WriteNumber(json, value.Instrument, value.Value);
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteStartObject("global");
            foreach (var (_, value) in Values.Where(v => v.Service.Length == 0 && v.Value.Kind != StatKind.Histogram).OrderBy(v => v.Value.Instrument, StringComparer.Ordinal))
            {
                WriteNumber(json, value.Instrument, value.Value);
            }
            json.WriteEndObject();
            json.WriteStartObject("histograms");
            foreach (var (service, value) in Values.Where(v => v.Value.Kind == StatKind.Histogram).OrderBy(v => v.Value.Instrument, StringComparer.Ordinal))
            {
                json.WriteStartObject(service.Length == 0 ? value.Instrument : value.Instrument + "{" + service + "}");
                json.WriteString("unit", value.Unit);
                WriteNumber(json, "count", value.Count);
                WriteNumber(json, "sum", value.Sum);
                foreach (var (quantile, q) in value.Quantiles)
                {
                    json.WriteNumber(quantile, q);
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A table: one row per instrument, one column per service (counters show total and rate per second).</summary>
    public string ToTable(string? processName, int refreshSeconds)
    {
        var services = Services;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"IICFast in process {ProcessId}{(processName is null ? "" : $" ({processName})")}  {Time.ToLocalTime():HH:mm:ss}  (Ctrl+C to stop)\n");
        var partitions = Get("", "iic.partitions.active");
        text.Append(CultureInfo.InvariantCulture, $"partitions: {Format(partitions)}   services: {services.Count}\n\n");
        if (services.Count == 0)
        {
            text.Append("(no open channels)\n");
        }
        else
        {
            var rows = s_rows.Select(r => r.Instrument)
                .Concat(Values.Where(v => v.Service.Length > 0 && v.Value.Kind != StatKind.Histogram).Select(v => v.Value.Instrument).Distinct().Order(StringComparer.Ordinal))
                .Distinct()
                .Where(i => services.Any(s => Find(s, i) is not null))
                .ToList();
            var headings = rows.Select(r => s_rows.FirstOrDefault(x => x.Instrument == r).Heading ?? r).ToList();
            var first = Math.Max(10, headings.Max(h => h.Length)) + 2;
            var cells = rows.Select(r => services.Select(s => Cell(Find(s, r), refreshSeconds)).ToList()).ToList();
            var widths = services.Select((s, c) => Math.Max(s.Length, cells.Count == 0 ? 0 : cells.Max(row => row[c].Length)) + 2).ToList();
            text.Append("".PadRight(first));
            for (var c = 0; c < services.Count; c++)
            {
                text.Append(services[c].PadLeft(widths[c]));
            }
            text.Append('\n');
            for (var r = 0; r < rows.Count; r++)
            {
                text.Append(headings[r].PadRight(first));
                for (var c = 0; c < services.Count; c++)
                {
                    text.Append(cells[r][c].PadLeft(widths[c]));
                }
                text.Append('\n');
            }
        }
        foreach (var (service, value) in Values.Where(v => v.Value.Kind == StatKind.Histogram))
        {
            var q = value.Quantiles;
            var (scale, unit) = DisplayUnit(value.Unit);
            text.Append(CultureInfo.InvariantCulture,
                $"\n{value.Instrument}{(service.Length == 0 ? "" : $" [{service}]")} ({unit}): {Format(value.Count)} wakes  p50 {Get(q, "p50", scale)}  p95 {Get(q, "p95", scale)}  p99 {Get(q, "p99", scale)}\n");
        }
        return text.ToString();
    }

    private static string Get(Dictionary<string, double> quantiles, string key, double scale)
        => quantiles.TryGetValue(key, out var v) ? (v * scale).ToString("0.#", CultureInfo.InvariantCulture) : "-";

    /// <summary>Durations are reported in seconds (OpenTelemetry convention); the table shows them in µs, where IICFast's live.</summary>
    private static (double Scale, string Unit) DisplayUnit(string unit) => unit == "s" ? (1e6, "us") : (1, unit);

    private static string Cell(StatValue? value, int refreshSeconds)
    {
        if (value is null)
        {
            return "-";
        }
        if (value.Kind == StatKind.Counter && value.Rate is { } rate)
        {
            return $"{Format(value.Value)} (+{Format(rate / Math.Max(1, refreshSeconds))}/s)";
        }
        return Format(value.Value * DisplayUnit(value.Unit).Scale);
    }

    private static string Format(double? value) => value is { } v ? v.ToString(v == Math.Floor(v) ? "#,0" : "#,0.#", CultureInfo.InvariantCulture) : "-";

    private static void WriteNumber(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}

/// <summary>A failure <c>iic stat</c> reports as a plain message (cannot attach, not an IICFast process).</summary>
internal sealed class StatException : Exception
{
    public StatException()
    {
    }

    public StatException(string message)
        : base(message)
    {
    }

    public StatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
