using System.Diagnostics;
using Grpc.Core;

namespace IIC.Grpc.Telemetry;

/// <summary>
/// One client call's span and duration, made only when something listens (<see cref="Begin"/>), ended once with the call's
/// status (<see cref="End"/>). A call made inside a trace carries its context in its request headers either way.
/// </summary>
internal sealed class ClientCallTelemetry
{
    private readonly Activity? _activity;
    private readonly string _method;
    private readonly long _started;
    private int _ended;

    private ClientCallTelemetry(Activity? activity, string method)
    {
        _activity = activity;
        _method = method;
        _started = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Starts the call's span (when the source has listeners) and its clock (when the duration is measured), and returns
    /// the options the call is sent with: the caller's, or, inside a trace, a copy of them whose headers carry it
    /// (<c>traceparent</c>, <c>tracestate</c>, <c>baggage</c>, by <see cref="DistributedContextPropagator.Current"/>)
    /// unless the caller's headers already do. Null telemetry (and the caller's options) when nothing listens and no trace
    /// is current: then nothing was allocated. The caller's <see cref="Activity.Current"/> is left as it was.
    /// </summary>
    public static ClientCallTelemetry? Begin(string fullName, ref CallOptions options)
    {
        var parent = Activity.Current;
        var traced = GrpcTelemetry.Source.HasListeners();
        if (!traced && parent is null && !GrpcTelemetry.ClientDuration.Enabled)
        {
            return null;
        }
        var method = GrpcTelemetry.MethodAttribute(fullName);
        Activity? activity = null;
        if (traced)
        {
            activity = GrpcTelemetry.Source.CreateActivity(GrpcTelemetry.ClientActivityName, ActivityKind.Client);
            if (activity is not null)
            {
                activity.DisplayName = method;
                activity.SetTag("rpc.system.name", "grpc");
                activity.SetTag("rpc.method", method);
                activity.Start();
                Activity.Current = parent; // the span is the call's, not the caller's code that goes on after this returns
            }
        }
        if ((activity ?? parent) is { } context && options.Headers?.Get("traceparent") is null)
        {
            var headers = new Metadata();
            if (options.Headers is { } own)
            {
                foreach (var entry in own)
                {
                    headers.Add(entry);
                }
            }
            DistributedContextPropagator.Current.Inject(context, headers, static (carrier, name, value) =>
            {
                if (carrier is Metadata metadata && value is not null)
                {
                    metadata.Add(name, value);
                }
            });
            options = options.WithHeaders(headers);
        }
        return activity is null && !GrpcTelemetry.ClientDuration.Enabled ? null : new ClientCallTelemetry(activity, method);
    }

    /// <summary>Ends the span with <paramref name="status"/> and records the duration (once; any thread).</summary>
    public void End(Status status)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0)
        {
            return;
        }
        var code = GrpcTelemetry.StatusAttribute(status.StatusCode);
        if (GrpcTelemetry.ClientDuration.Enabled)
        {
            var tags = new TagList
            {
                { "rpc.system.name", "grpc" },
                { "rpc.method", _method },
                { "rpc.response.status_code", code },
            };
            if (status.StatusCode != StatusCode.OK)
            {
                tags.Add("error.type", code);
            }
            GrpcTelemetry.ClientDuration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, tags);
        }
        if (_activity is { } activity)
        {
            activity.SetTag("rpc.response.status_code", code);
            activity.SetTag("grpc.status_code", (int)status.StatusCode); // as grpc-dotnet's client spans
            if (status.StatusCode != StatusCode.OK)
            {
                activity.SetTag("error.type", code);
                activity.SetStatus(ActivityStatusCode.Error, status.Detail);
            }
            // Stop makes the span's parent current on this thread (a reader thread, a timer): put back what was there.
            var current = Activity.Current;
            activity.Stop();
            Activity.Current = current;
        }
    }
}
