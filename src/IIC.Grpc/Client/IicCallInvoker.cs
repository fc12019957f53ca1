using Grpc.Core;
using IIC.AspNetCore;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Grpc.Client;

/// <summary>
/// gRPC calls straight over IICFast channels, no HTTP/2 (docs/grpc-call-protocol.md). Give it to any generated
/// client (<c>new Greeter.GreeterClient(invoker)</c>); interceptors apply with <c>invoker.Intercept(...)</c>.
/// Calls are spread over <see cref="IicGrpcClientOptions.ConnectionCount"/> channels to the service, connected on
/// first use and again after one ended; each channel has a dedicated reader thread that hands replies to their calls.
/// Thread safe. Disposing ends every call in flight with <c>Unavailable</c>.
/// </summary>
public sealed class IicCallInvoker : CallInvoker, IDisposable
{
    private readonly IicGrpcClientOptions _options;
    private readonly IicPartitionHost _partitions;
    private readonly ClientConnection?[] _connections;
    private readonly Lock _connectLock = new();
    private readonly List<ClientConnection> _draining = []; // replaced after the server's GoAway, still finishing their calls (under _connectLock)
    private readonly int _maxSend;
    private readonly int _maxReceive;
    private int _next;
    private bool _disposed;

    /// <summary>An invoker for the IICFast service <paramref name="service"/> (the name its server offers).</summary>
    /// <exception cref="ArgumentException">The service name is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    public IicCallInvoker(string service, IicGrpcClientOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        options ??= new IicGrpcClientOptions();
        options.Validate();
        Service = service;
        _options = options;
        _partitions = IicPartitionHost.Shared(options.Transport);
        _connections = new ClientConnection?[options.ConnectionCount];
        _maxSend = options.MaxSendMessageSize ?? int.MaxValue;
        _maxReceive = options.MaxReceiveMessageSize ?? int.MaxValue;
    }

    /// <summary>The IICFast service the calls go to.</summary>
    public string Service { get; }

    /// <summary>How many sends wait for the connections' senders now (tests: a write stuck behind a full ring).</summary>
    internal int QueuedSends => _connections.OfType<ClientConnection>().Sum(c => c.QueuedSends);

    /// <summary>How many calls are registered on the connections open now (tests: every call that ended left its registry).</summary>
    internal int CallsInFlight => _connections.OfType<ClientConnection>().Sum(c => c.CallsInFlight);

    /// <summary>How many calls wait for a slot on the connections open now (the server's limit on calls open at once; tests).</summary>
    internal int CallsWaiting => _connections.OfType<ClientConnection>().Sum(c => c.CallsWaiting);

    /// <summary>The server's limit on calls open at once as each open connection knows it (tests).</summary>
    internal IEnumerable<uint> ConnectionLimits => _connections.OfType<ClientConnection>().Select(c => c.MaxConcurrentCalls);

    /// <summary>How many connections the server asked to drain (GoAway) are still open, finishing their calls (tests).</summary>
    internal int DrainingConnections
    {
        get
        {
            lock (_connectLock)
            {
                return _draining.Count(static c => !c.IsClosed) + _connections.Count(static c => c is { IsClosed: false, IsDraining: true });
            }
        }
    }

    /// <summary>The channels of the connections open now (tests read their statistics).</summary>
    internal IEnumerable<IicChannel> OpenChannels => _connections.OfType<ClientConnection>().Select(c => c.Channel);

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    /// <exception cref="InvalidOperationException">Called on a connection's reader thread (code continuing inline after an awaited call with <see cref="IicGrpcClientOptions.InlineCompletions"/>): it would wait for itself; await the call instead.</exception>
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        if (Protocol.CallConnection.OnReaderThread)
        {
            throw new InvalidOperationException("A blocking call on an IICFast connection's reader thread would wait for itself (InlineCompletions runs continuations there): await the async call instead.");
        }
        return AsyncUnaryCall(method, host, options, request).ResponseAsync.GetAwaiter().GetResult();
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        Protocol.CallTrace.Mark(Protocol.CallTrace.Step.ClientInvoker);
        var call = Create(method, options, out var failure);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(request, sendRequest: true, options, failure);
        return new AsyncUnaryCall<TResponse>(call.ResponseTask, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var call = Create(method, options, out var failure);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(request, sendRequest: true, options, failure);
        return new AsyncServerStreamingCall<TResponse>(call, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = Create(method, options, out var failure);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(null, sendRequest: false, options, failure);
        return new AsyncClientStreamingCall<TRequest, TResponse>(call, call.ResponseTask, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = Create(method, options, out var failure);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(null, sendRequest: false, options, failure);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call, call, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    private ClientCall<TRequest, TResponse> Create<TRequest, TResponse>(Method<TRequest, TResponse> method, in CallOptions options, out Status failure)
        where TRequest : class
        where TResponse : class
    {
        ArgumentNullException.ThrowIfNull(method);
        if (options.Deadline is { } deadline && deadline.Kind != DateTimeKind.Utc && deadline != DateTime.MaxValue && deadline != DateTime.MinValue)
        {
            // As Grpc.Net.Client (GrpcCall.ValidateDeadline), in the same words: a local or unspecified time is ambiguous, and
            // was taken as local time here, so the same options meant different deadlines over the two paths.
            throw new InvalidOperationException("Deadline must have a kind DateTimeKind.Utc or be equal to DateTime.MaxValue or DateTime.MinValue.");
        }
        var connection = GetConnection(out failure);
        return new ClientCall<TRequest, TResponse>(method, connection, _maxSend, _options.InlineCompletions);
    }

    /// <summary>The next connection round robin, connecting it when it is missing or ended; null with the reason when that fails.</summary>
    private ClientConnection? GetConnection(out Status failure)
    {
        failure = default;
        // One connection (the default) needs no round robin: no locked increment of a line every calling thread shares.
        var slot = _connections.Length == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length);
        var connection = Volatile.Read(ref _connections[slot]);
        if (connection is { IsClosed: false, IsDraining: false })
        {
            return connection;
        }
        lock (_connectLock)
        {
            if (_disposed)
            {
                failure = new Status(StatusCode.Unavailable, "The IicCallInvoker was disposed.");
                return null;
            }
            connection = _connections[slot];
            if (connection is { IsClosed: false, IsDraining: false })
            {
                return connection;
            }
            if (connection is { IsClosed: false })
            {
                // The server is stopping gracefully (GoAway): its calls finish there and it closes itself; new calls get a
                // new connection (to the same service: another server, in a rolling restart, or Unavailable).
                _draining.RemoveAll(static old => old.IsClosed);
                if (!_draining.Contains(connection))
                {
                    _draining.Add(connection);
                }
            }
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var partition = _partitions.GetPartition();
                var channel = IicChannel.Connect(partition, Service, _options.ChannelOptions, _options.Transport.ConnectTimeout);
                connection = new ClientConnection(channel, _maxReceive, _options.InlineCompletions, _options.MaxMetadataSize);
                // The server's first frame says how many calls it lets this connection have open at once; no call is sent
                // before it is read, so none exceeds a limit below the 100 assumed until then (the server would close the
                // connection as a client ignoring its limit). The rest of the connect timeout bounds the wait.
                var timeout = _options.Transport.ConnectTimeout;
                var left = timeout == Timeout.InfiniteTimeSpan ? timeout : timeout - System.Diagnostics.Stopwatch.GetElapsedTime(started);
                if (!connection.WaitForSettings(left == Timeout.InfiniteTimeSpan || left > TimeSpan.Zero ? left : TimeSpan.Zero))
                {
                    var ended = connection.IsClosed;
                    connection.Dispose();
                    failure = new Status(StatusCode.Unavailable, ended
                        ? $"The IICFast service '{Service}' closed the connection before its Settings frame."
                        : $"The IICFast service '{Service}' sent no Settings frame within the connect timeout ({_options.Transport.ConnectTimeout.TotalSeconds:0.###} s): it does not speak this native gRPC protocol version, or it is stuck.");
                    return null;
                }
                Volatile.Write(ref _connections[slot], connection);
                return connection;
            }
            catch (Exception e) when (e is IOException or TimeoutException) // IicException (HypervisorException included) is an IOException
            {
                failure = new Status(StatusCode.Unavailable, $"The IICFast service '{Service}' is not reachable through hypervisor '{_options.Transport.HypervisorName}': {e.Message}", e);
                return null;
            }
        }
    }

    /// <summary>Closes every channel; calls in flight end with <c>Unavailable</c>.</summary>
    public void Dispose()
    {
        lock (_connectLock)
        {
            _disposed = true;
        }
        for (var i = 0; i < _connections.Length; i++)
        {
            Interlocked.Exchange(ref _connections[i], null)?.Dispose();
        }
        ClientConnection[] draining;
        lock (_connectLock)
        {
            draining = [.. _draining];
            _draining.Clear();
        }
        foreach (var connection in draining)
        {
            connection.Dispose();
        }
    }
}
