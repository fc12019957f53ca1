using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using IIC.Grpc.Telemetry;

namespace IIC.Grpc.Testing;

/// <summary>
/// The "telemetry" argument (tests/IIC.Grpc.Tests/TelemetryTests.cs): the server process listens to IIC.Grpc's activity
/// source (and ASP.NET Core's, for the HTTP/2 path) and to its server metrics, so a handler can say which trace it runs in
/// ("trace?") and the test can ask what the server measured ("server-durations?").
/// </summary>
public static class TelemetryModes
{
    private static ActivityListener? s_activities;
    private static MeterListener? s_meters;
    private static readonly ConcurrentDictionary<string, int> s_durations = new(StringComparer.Ordinal);
    private static long s_activeCalls;

    /// <summary>Starts listening when the arguments hold "telemetry".</summary>
    public static void Enable(string[] args)
    {
        if (!args.Contains("telemetry"))
        {
            return;
        }
        s_activities = new ActivityListener
        {
            ShouldListenTo = static source => source.Name is GrpcTelemetry.Name or "Microsoft.AspNetCore",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(s_activities);
        s_meters = new MeterListener
        {
            InstrumentPublished = static (instrument, listener) =>
            {
                if (instrument.Meter.Name == GrpcTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        s_meters.SetMeasurementEventCallback<double>(static (instrument, _, tags, _) =>
        {
            if (instrument.Name == GrpcTelemetry.ServerCallDuration)
            {
                s_durations.AddOrUpdate(Key(tags), 1, static (_, count) => count + 1);
            }
        });
        s_meters.SetMeasurementEventCallback<long>(static (instrument, value, _, _) =>
        {
            if (instrument.Name == GrpcTelemetry.ServerActiveCalls)
            {
                Interlocked.Add(ref s_activeCalls, value);
            }
        });
        s_meters.Start();
    }

    /// <summary>The trace the handler runs in: "TRACE-ID/PARENT-SPAN-ID/OPERATION" (empty parts when none).</summary>
    public static Reply Trace() => new() { Text = $"{Activity.Current?.TraceId.ToHexString()}/{Activity.Current?.ParentSpanId.ToHexString()}/{Activity.Current?.OperationName}" };

    /// <summary>How many server durations were recorded under "METHOD|STATUS|ERROR-TYPE" (Index), and the active calls now (Count of the reply's text).</summary>
    public static Reply Durations(string key) => new() { Index = s_durations.GetValueOrDefault(key), Text = Interlocked.Read(ref s_activeCalls).ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private static string Key(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? method = null, status = null, error = null;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "rpc.method":
                    method = tag.Value as string;
                    break;
                case "rpc.response.status_code":
                    status = tag.Value as string;
                    break;
                case "error.type":
                    error = tag.Value as string;
                    break;
            }
        }
        return $"{method}|{status}|{error}";
    }
}
