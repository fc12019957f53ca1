using Grpc.Core;
using IIC.AspNetCore;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Grpc.Client;

/// <summary>
/// gRPC calls straight over IICFast channels, no HTTP/2 (docs/grpc-call-protocol.md). Give it to any generated
/// client (<c>new Greeter.GreeterClient(invoker)</c>); interceptors apply with <c>invoker.Intercept(...)</c>.
/// Calls are spread over <see cref="IicGrpcClientOptions.ConnectionCount"/> channels to the service, connected on
/// first use and again after one ended, on the thread pool: a call made meanwhile returns at once and waits for its
/// channel, its deadline, token and Dispose ending it. Each channel has a dedicated reader thread that hands replies to their calls.
/// A call that sent nothing when its channel ended (it waited for a slot) starts again on another; one with
/// <see cref="CallOptions.IsWaitForReady"/> waits through failed connects until its deadline (docs/grpc-call-protocol.md 1).
/// Thread safe. Disposing ends every call in flight with <c>Unavailable</c>.
/// </summary>
public sealed class IicCallInvoker : CallInvoker, IDisposable
{
    private readonly IicGrpcClientOptions _options;
    private readonly IicPartitionHost _partitions;
    private readonly ClientConnection?[] _connections;
    private readonly Task<ConnectResult>?[] _connecting;
    private readonly CancellationTokenSource _disposing = new();
    private readonly CancellationToken _disposingToken; // read by connects after Dispose disposed the source
    private readonly Lock _connectLock = new();
    private readonly List<ClientConnection> _draining = []; // replaced after the server's GoAway, still finishing their calls (under _connectLock)
    private readonly CallPool? _pool; // what the connections share when there are several (their lock and queue)
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
        _connecting = new Task<ConnectResult>?[options.ConnectionCount];
        _pool = options.ConnectionCount > 1 ? new CallPool() : null;
        _disposingToken = _disposing.Token;
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
    internal int CallsWaiting => _pool?.WaitingCount ?? _connections.OfType<ClientConnection>().Sum(c => c.CallsWaiting);

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

    /// <summary>How many connections are open now, draining ones included (tests).</summary>
    internal int OpenConnections
    {
        get
        {
            lock (_connectLock)
            {
                return _draining.Count(static c => !c.IsClosed) + _connections.Count(static c => c is { IsClosed: false });
            }
        }
    }

    /// <summary>The connection of pool slot <paramref name="slot"/> now, or null (tests: a call made on it directly is one that picked it before it drained or ended).</summary>
    internal ClientConnection? ConnectionAt(int slot) => Volatile.Read(ref _connections[slot]);

    /// <summary>How many slots have a connect under way now (tests: that a pick started a slot's connect).</summary>
    internal int ConnectsUnderWay
    {
        get
        {
            lock (_connectLock)
            {
                return _connecting.Count(static task => task is not null);
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
        var call = Create(method, options, out var failure, out var connecting);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(request, sendRequest: true, options, failure, connecting);
        return new AsyncUnaryCall<TResponse>(call.ResponseTask, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
    {
        var call = Create(method, options, out var failure, out var connecting);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(request, sendRequest: true, options, failure, connecting);
        return new AsyncServerStreamingCall<TResponse>(call, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = Create(method, options, out var failure, out var connecting);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(null, sendRequest: false, options, failure, connecting);
        return new AsyncClientStreamingCall<TRequest, TResponse>(call, call.ResponseTask, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The deadline's <see cref="DateTime.Kind"/> is not <see cref="DateTimeKind.Utc"/> (and it is neither <see cref="DateTime.MaxValue"/> nor <see cref="DateTime.MinValue"/>), refused before anything is sent, as Grpc.Net.Client refuses it: pass <c>DateTime.UtcNow + timeout</c>.</exception>
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options)
    {
        var call = Create(method, options, out var failure, out var connecting);
        call.Telemetry = IIC.Grpc.Telemetry.ClientCallTelemetry.Begin(method.FullName, ref options);
        call.Start(null, sendRequest: false, options, failure, connecting);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call, call, ClientCall<TRequest, TResponse>.HeadersOf, ClientCall<TRequest, TResponse>.StatusOf,
            ClientCall<TRequest, TResponse>.TrailersOf, ClientCall<TRequest, TResponse>.DisposeOf, call);
    }

    private ClientCall<TRequest, TResponse> Create<TRequest, TResponse>(Method<TRequest, TResponse> method, in CallOptions options, out Status failure, out Task<ConnectResult>? connecting)
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
        var connection = GetConnection(out failure, out connecting);
        return new ClientCall<TRequest, TResponse>(method, connection, _maxSend, _options.InlineCompletions);
    }

    /// <summary>
    /// A connect's outcome: the connection (open, its Settings frame read), or null with the status the calls waiting for it
    /// end with (<c>Unavailable</c>). The connect's task never faults, so nobody has to observe it.
    /// </summary>
    internal readonly record struct ConnectResult(ClientConnection? Connection, Status Failure, IicCallInvoker Invoker);

    /// <summary>
    /// The next connection round robin when it is open (the fast path: no lock, no allocation); else the connect of its slot,
    /// started here if none is under way (<paramref name="connecting"/>: the call waits for it without blocking its caller,
    /// docs/grpc-call-protocol.md 1). Null with neither when the invoker was disposed (<paramref name="failure"/> says so).
    /// </summary>
    private ClientConnection? GetConnection(out Status failure, out Task<ConnectResult>? connecting)
    {
        failure = default;
        connecting = null;
        // One connection (the default) needs no round robin: no locked increment of a line every calling thread shares.
        var slot = _connections.Length == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length);
        var connection = Volatile.Read(ref _connections[slot]);
        // Open: not ended, not draining after GoAway, and no send on it found the peer gone (round 23: its reader thread may
        // not have reached the end yet, and a call started there would only fail its first send; it is replaced as a
        // draining one is, and closes itself once its reader gets there).
        if (connection is { IsClosed: false, IsDraining: false, SendFoundPeerGone: false })
        {
            return connection;
        }
        lock (_connectLock)
        {
            if (_disposed)
            {
                failure = s_disposed;
                return null;
            }
            connection = _connections[slot];
            if (connection is { IsClosed: false, IsDraining: false, SendFoundPeerGone: false })
            {
                return connection;
            }
            KeepDrainingLocked(connection);
            // One attempt per slot at a time, shared by every call that needs it; no lock is held across it. It starts on the
            // pool, off the caller's thread (its synchronous part sends the hypervisor requests); since round 19 its waits,
            // the partition's attach (IicPartitionHost.GetPartitionAsync) included, hold no thread.
            connecting = _connecting[slot] ??= StartConnect(slot);
            if (_pool is not null)
            {
                // Another connection of the pool is open: the call goes there (to one with a free slot: CallRegistry.TryAdd)
                // and does not wait for this one, whose connect goes on for the calls after it.
                foreach (var open in _connections)
                {
                    if (open is { IsClosed: false, IsDraining: false, SendFoundPeerGone: false })
                    {
                        connecting = null;
                        return open;
                    }
                }
            }
            return null;
        }
    }

    /// <summary>
    /// <paramref name="connection"/>, replaced in its slot, is still open: the server is stopping gracefully (GoAway), its
    /// calls finish there and it closes itself; new calls get a new connection (to the same service: another server, in a
    /// rolling restart, or Unavailable). It is kept until then (Dispose closes it too). Under <see cref="_connectLock"/>.
    /// </summary>
    private void KeepDrainingLocked(ClientConnection? connection)
    {
        if (connection is { IsClosed: false })
        {
            _draining.RemoveAll(static old => old.IsClosed);
            if (!_draining.Contains(connection))
            {
                _draining.Add(connection);
            }
        }
    }

    /// <summary>
    /// A connection for a call that sent nothing on its own, which ended or was draining (a transparent retry, ClientCall.Retry.cs;
    /// or a call with WaitForReady whose connect failed): an open connection of the pool if there is one (the call registers
    /// there, or on another with a free slot, or waits in the pool's queue); else the connect of a slot with none open, shared
    /// with the calls that wait for it (<paramref name="connecting"/>), started here if none is under way. Null with neither
    /// once the invoker was disposed (<paramref name="failure"/>). Never the fast path: it takes the lock.
    /// </summary>
    internal ClientConnection? GetConnectionForRetry(out Status failure, out Task<ConnectResult>? connecting)
    {
        failure = default;
        connecting = null;
        lock (_connectLock)
        {
            if (_disposed)
            {
                failure = s_disposed;
                return null;
            }
            foreach (var open in _connections)
            {
                if (open is { IsClosed: false, IsDraining: false, SendFoundPeerGone: false })
                {
                    return open;
                }
            }
            // None open: every slot needs a connect. One under way is shared (the calls made meanwhile wait for it too, and
            // those waiting first register first); else the first slot's starts.
            var slot = Array.FindIndex(_connecting, static task => task is not null);
            if (slot < 0)
            {
                slot = 0;
                KeepDrainingLocked(_connections[0]);
                _connecting[0] = StartConnect(0);
            }
            connecting = _connecting[slot];
            return null;
        }
    }

    /// <summary>
    /// Starts the connect of every slot whose connection a send found with its peer gone (<see cref="Protocol.CallConnection.SendFoundPeerGone"/>)
    /// and that has none under way; the old connection is kept with the draining ones until its reader reaches its end.
    /// Called by a pool's routing when it passed such a connection over (CallRegistry.TryAdd, round 24): before, only a call
    /// whose round robin landed on its slot replaced it (<see cref="GetConnection"/>), so the pool's calls could wait for
    /// its other connections' slots meanwhile. Never the fast path: it takes the lock.
    /// </summary>
    internal void ReplaceConnectionsWhosePeerIsGone()
    {
        lock (_connectLock)
        {
            if (_disposed)
            {
                return;
            }
            for (var slot = 0; slot < _connections.Length; slot++)
            {
                if (_connections[slot] is { SendFoundPeerGone: true } gone && _connecting[slot] is null)
                {
                    KeepDrainingLocked(gone);
                    _connecting[slot] = StartConnect(slot);
                }
            }
        }
    }

    /// <summary>Cancelled when the invoker is disposed: a call waiting to connect again (WaitForReady) stops waiting then.</summary>
    internal CancellationToken DisposingToken => _disposingToken;

    /// <summary>
    /// Starts <paramref name="slot"/>'s connect on the pool. A method of its own: a lambda capturing the slot in
    /// <see cref="GetConnection"/> made the compiler allocate its closure on every call there, the open connection's
    /// path included (+32 B per unary call in GrpcPerf's allocation count).
    /// </summary>
    private Task<ConnectResult> StartConnect(int slot) => Task.Run(() => ConnectAsync(slot));

    private static readonly Status s_disposed = new(StatusCode.Unavailable, "The IicCallInvoker was disposed.");

    /// <summary>
    /// Connects <paramref name="slot"/> (on the pool, never on a caller's thread): the channel, then the server's Settings
    /// frame, both within <see cref="IicTransportOptions.ConnectTimeout"/>, and the invoker's Dispose ends either. The calls
    /// waiting for it are ended by their own token, deadline or Dispose meanwhile; they do not cancel it (it is shared, and
    /// the next call uses it), as SocketsHttpHandler lets a connection attempt go on when the request that started it is
    /// cancelled. Never faults: a failure is a status.
    /// </summary>
    private async Task<ConnectResult> ConnectAsync(int slot)
    {
        ClientConnection? connection = null;
        var failure = default(Status);
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var timeout = _options.Transport.ConnectTimeout;
            var partition = await _partitions.GetPartitionAsync(cancellationToken: _disposingToken).ConfigureAwait(false);
            // The transport refuses a fragmented frame longer than a frame may be (docs/grpc-call-protocol.md 2.9).
            var channelOptions = Protocol.CallConnection.WithFrameReceiveLimit(_options.ChannelOptions, _options.MaxMetadataSize);
            var channel = await IicChannel.ConnectAsync(partition, Service, channelOptions, timeout, _disposingToken).ConfigureAwait(false);
            connection = new ClientConnection(channel, _maxReceive, _options.InlineCompletions, _pool, _options.MaxMetadataSize);
            connection.Invoker = this; // before any call can reach it: its calls that sent nothing come back here when it ends
            // The server's first frame says how many calls it lets this connection have open at once; no call is sent
            // before it is read, so none exceeds a limit below the 100 assumed until then (the server would close the
            // connection as a client ignoring its limit). The rest of the connect timeout bounds the wait.
            var left = timeout == Timeout.InfiniteTimeSpan ? timeout : timeout - System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (!await connection.WaitForSettingsAsync(left == Timeout.InfiniteTimeSpan || left > TimeSpan.Zero ? left : TimeSpan.Zero, _disposingToken).ConfigureAwait(false))
            {
                failure = new Status(StatusCode.Unavailable, connection.IsClosed
                    ? $"The IICFast service '{Service}' closed the connection before its Settings frame ({connection.ClosedBecause})."
                    : $"The IICFast service '{Service}' sent no Settings frame within the connect timeout ({timeout.TotalSeconds:0.###} s): it does not speak this native gRPC protocol version, or it is stuck.");
            }
        }
        catch (OperationCanceledException) when (_disposingToken.IsCancellationRequested)
        {
            failure = s_disposed;
        }
        catch (Exception e) when (e is IOException or TimeoutException) // IicException (HypervisorException included) is an IOException
        {
            failure = new Status(StatusCode.Unavailable, $"The IICFast service '{Service}' is not reachable through hypervisor '{_options.Transport.HypervisorName}': {e.Message}", e);
        }
#pragma warning disable CA1031 // nobody catches this: whatever else the connect throws (the partition host disposed, PreTouch out of memory) ends the calls waiting for it
        catch (Exception e)
        {
            failure = new Status(StatusCode.Unavailable, $"Connecting to the IICFast service '{Service}' failed: {e.GetType().Name}: {e.Message}", e);
        }
#pragma warning restore CA1031
        lock (_connectLock)
        {
            _connecting[slot] = null; // a later call tries again
            if (failure.StatusCode == StatusCode.OK && _disposed)
            {
                failure = s_disposed;
            }
            if (failure.StatusCode == StatusCode.OK)
            {
                Volatile.Write(ref _connections[slot], connection);
                return new ConnectResult(connection, default, this);
            }
        }
        connection?.Dispose();
        return new ConnectResult(null, failure, this);
    }

    /// <summary>Closes every channel; calls in flight end with <c>Unavailable</c>.</summary>
    public void Dispose()
    {
        lock (_connectLock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        _disposing.Cancel(); // a connect under way ends: the calls waiting for it end Unavailable
        _disposing.Dispose();
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
