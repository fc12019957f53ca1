using System.Diagnostics;
using Grpc.Core;

namespace IIC.Grpc.Telemetry;

/// <summary>
/// One server call's span (a child of the client's, from the request headers' trace context), its duration and its place
/// in the active-call count, made only when something listens (<see cref="Begin"/>), ended once (<see cref="End"/>).
/// </summary>
internal sealed class ServerCallTelemetry
{
    private readonly string _method;
    private readonly long _started;
    private readonly System.Diagnostics.Metrics.UpDownCounter<long>? _active; // the count it joined (left on the same one)
    private int _ended;

    private ServerCallTelemetry(Activity? activity, string method, System.Diagnostics.Metrics.UpDownCounter<long>? active)
    {
        Span = activity;
        _method = method;
        _active = active;
        _started = Stopwatch.GetTimestamp();
    }

    /// <summary>The call's span, current while its handler runs (null when the source has no listener).</summary>
    public Activity? Span { get; }

    /// <summary>
    /// Starts the call's span (when the source has listeners; its parent is the trace context the client sent, read by
    /// <see cref="DistributedContextPropagator.Current"/>) and its clock and count (when measured). Null when nothing listens:
    /// then nothing was allocated. The reader thread's <see cref="Activity.Current"/> is left as it was (null).
    /// </summary>
    public static ServerCallTelemetry? Begin(string fullName, Metadata requestHeaders)
    {
        var traced = GrpcTelemetry.Source.HasListeners();
        var measured = GrpcTelemetry.ServerDuration.Enabled;
        var active = GrpcTelemetry.ServerActive;
        var counted = active.Enabled;
        if (!traced && !measured && !counted)
        {
            return null;
        }
        var method = GrpcTelemetry.MethodAttribute(fullName);
        Activity? activity = null;
        if (traced)
        {
            DistributedContextPropagator.Current.ExtractTraceIdAndState(requestHeaders, static (object? carrier, string name, out string? value, out IEnumerable<string>? values) =>
            {
                values = null;
                value = (carrier as Metadata)?.GetValue(name);
            }, out var traceParent, out var traceState);
            ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent);
            activity = GrpcTelemetry.Source.CreateActivity(GrpcTelemetry.ServerActivityName, ActivityKind.Server, parent);
            if (activity is not null)
            {
                activity.DisplayName = method;
                activity.SetTag("rpc.system.name", "grpc");
                activity.SetTag("rpc.method", method);
                activity.SetTag("grpc.method", fullName); // as Grpc.AspNetCore tags its request spans
                var previous = Activity.Current;
                activity.Start();
                Activity.Current = previous; // current only while the handler runs (ServerCall.Launch)
            }
        }
        if (counted)
        {
            active.Add(1, new KeyValuePair<string, object?>("rpc.system.name", "grpc"), new KeyValuePair<string, object?>("rpc.method", method));
        }
        return new ServerCallTelemetry(activity, method, counted ? active : null);
    }

    /// <summary>Ends the span with <paramref name="status"/>, records the duration and leaves the count (once; any thread).</summary>
    public void End(Status status)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }
        var code = GrpcTelemetry.StatusAttribute(status.StatusCode);
        // A server span is an error only for codes that say the server failed (OpenTelemetry's RPC span conventions).
        var serverError = status.StatusCode is StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.Unimplemented
            or StatusCode.Internal or StatusCode.Unavailable or StatusCode.DataLoss;
        if (_active is { } active)
        {
            active.Add(-1, new KeyValuePair<string, object?>("rpc.system.name", "grpc"), new KeyValuePair<string, object?>("rpc.method", _method));
        }
        if (GrpcTelemetry.ServerDuration.Enabled)
        {
            var tags = new TagList
            {
                { "rpc.system.name", "grpc" },
                { "rpc.method", _method },
                { "rpc.response.status_code", code },
            };
            if (serverError)
            {
                tags.Add("error.type", code);
            }
            GrpcTelemetry.ServerDuration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, tags);
        }
        if (Span is { } activity)
        {
            activity.SetTag("rpc.response.status_code", code);
            activity.SetTag("grpc.status_code", (int)status.StatusCode);
            if (serverError)
            {
                activity.SetTag("error.type", code);
                activity.SetStatus(ActivityStatusCode.Error, status.Detail);
            }
            var current = Activity.Current;
            activity.Stop();
            Activity.Current = current;
        }
    }
}
