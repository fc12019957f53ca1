using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;

namespace IIC.Grpc.Telemetry;

/// <summary>
/// The native path's traces and metrics (docs/grpc-call-protocol.md, section 5): one <see cref="ActivitySource"/> and one
/// <see cref="Meter"/>, both named <see cref="Name"/>, with OpenTelemetry's RPC conventions (span and metric names,
/// attributes, seconds for durations). A call pays for them only when something listens: no span, no measurement, no
/// allocation otherwise, except that a call made inside a trace (<see cref="Activity.Current"/>) carries its context to
/// the server (W3C <c>traceparent</c>), as HttpClient does for grpc-dotnet's calls.
/// </summary>
public static class GrpcTelemetry
{
    /// <summary>The name of the activity source and of the meter: <c>IIC.Grpc</c> (add it to OpenTelemetry's tracing and metrics).</summary>
    public const string Name = "IIC.Grpc";

    /// <summary>The client's call duration histogram, in seconds, from the call's start to its status.</summary>
    public const string ClientCallDuration = "rpc.client.call.duration";

    /// <summary>The server's call duration histogram, in seconds, from the CallStart read to the trailers sent.</summary>
    public const string ServerCallDuration = "rpc.server.call.duration";

    /// <summary>The server's number of calls running now (an up-down counter).</summary>
    public const string ServerActiveCalls = "rpc.server.active_calls";

    /// <summary>The name the client's call activities start with (their display name is the method, as the span name).</summary>
    public const string ClientActivityName = "IIC.Grpc.ClientCall";

    /// <summary>The name the server's call activities start with (their display name is the method, as the span name).</summary>
    public const string ServerActivityName = "IIC.Grpc.ServerCall";

    internal static readonly ActivitySource Source = new(Name);

    // Bucket bounds for durations from 1 µs (a warm native call is a few µs) to 10 s (OpenTelemetry's advice for
    // rpc durations starts at 5 ms, which would put every native call in its first bucket).
    private static readonly double[] s_durationBuckets =
        [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private const string Version = "1.0";
    private static readonly Lock s_lock = new();
    private static readonly List<Meter> s_factoryMeters = [];

    static GrpcTelemetry()
    {
        // After every field initializer (the buckets, the lock). The client's instrument stays on this meter (a client has
        // no container); the server's move to the host's meter when there is one (UseMeterFactory).
        Meter = new Meter(Name, Version);
        ClientDuration = Meter.CreateHistogram(ClientCallDuration, "s", "Duration of outgoing native gRPC calls over IICFast.", tags: null, DurationAdvice);
        CreateServerInstruments(Meter);
    }

    /// <summary>The static <c>IIC.Grpc</c> meter: the client's instruments, and the server's until a host's meter takes them (<see cref="UseMeterFactory"/>).</summary>
    public static Meter Meter { get; }

    private static InstrumentAdvice<double> DurationAdvice => new() { HistogramBucketBoundaries = s_durationBuckets };

    internal static Histogram<double> ClientDuration { get; }

    internal static Histogram<double> ServerDuration { get; private set; } = null!; // set by CreateServerInstruments

    internal static UpDownCounter<long> ServerActive { get; private set; } = null!;

    /// <summary>
    /// Creates the server's instruments on a meter of <paramref name="meterFactory"/> (the .NET guidance for libraries in a
    /// host: the meter's lifetime and scope are the container's); server calls record there from now on (into the most
    /// recent factory's), so nothing is reported twice. <c>AddIicGrpcServer</c>'s server calls it with the host's factory.
    /// Calling it again with the same factory does nothing. The client's instrument stays on <see cref="Meter"/>.
    /// </summary>
    /// <returns>The factory's IIC.Grpc meter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="meterFactory"/> is null.</exception>
    public static Meter UseMeterFactory(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        lock (s_lock)
        {
            if (s_factoryMeters.Find(m => ReferenceEquals(m.Scope, meterFactory)) is { } existing)
            {
                return existing;
            }
            var meter = meterFactory.Create(new MeterOptions(Name) { Version = Version });
            CreateServerInstruments(meter);
            s_factoryMeters.Add(meter);
            return meter;
        }
    }

    private static void CreateServerInstruments(Meter meter)
    {
        ServerDuration = meter.CreateHistogram(ServerCallDuration, "s", "Duration of incoming native gRPC calls over IICFast.", tags: null, DurationAdvice);
        ServerActive = meter.CreateUpDownCounter<long>(ServerActiveCalls, "{call}", "Native gRPC calls running on the server now.");
    }

    private static readonly ConcurrentDictionary<string, string> s_methodNames = new(StringComparer.Ordinal);

    /// <summary>The <c>rpc.method</c> attribute of a gRPC full method name (<c>/pkg.Service/Method</c> -> <c>pkg.Service/Method</c>), made once per method.</summary>
    internal static string MethodAttribute(string fullName)
        => s_methodNames.TryGetValue(fullName, out var name) ? name
            : s_methodNames.GetOrAdd(fullName, static full => full.StartsWith('/') ? full[1..] : full);

    /// <summary>The <c>rpc.response.status_code</c> attribute: the status code's name as gRPC spells it (<c>OK</c>, <c>DEADLINE_EXCEEDED</c>).</summary>
    internal static string StatusAttribute(StatusCode code) => code switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        _ => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
