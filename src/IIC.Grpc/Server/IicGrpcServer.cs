using IIC.AspNetCore;
using IIC.Grpc.Protocol;
using IIC.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IIC.Grpc.Server;

/// <summary>
/// The native gRPC server: offers <see cref="IicGrpcServerOptions.ServiceName"/> through the hypervisor and serves
/// every service added with <see cref="IicGrpcServerBuilder.AddService{TService}"/> over each accepted channel, no
/// HTTP/2. Runs as a hosted service next to (or instead of) Kestrel; registered by
/// <see cref="IicGrpcServiceCollectionExtensions.AddIicGrpcServer"/>.
/// </summary>
public sealed class IicGrpcServer : IHostedService, IDisposable
{
    private readonly IicGrpcServerOptions _options;
    private readonly IicPartitionHost _partitions;
    private readonly ServiceRegistry _registry;
    private readonly ServerLog _log;
    private readonly HashSet<ServerConnection> _connections = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private IicListener? _listener;
    private Task? _acceptLoop;
    private TaskCompletionSource? _drained; // set by a graceful stop; completes when the last connection ended (under _lock)

    private readonly IicPartitionHost? _ownPartitions;
    private readonly IServiceProvider _services;

    /// <summary>
    /// Made by the DI container. The partition (and embedded hypervisor) is the one IIC.AspNetCore's
    /// <c>UseIicTransport</c> registered, if any, so Kestrel over IICFast and the native path share one; otherwise
    /// this server attaches its own from <see cref="IicGrpcServerOptions.Transport"/>.
    /// </summary>
    internal IicGrpcServer(IicGrpcServerOptions options, IicPartitionHost? sharedPartitions, ServiceRegistry registry, IServiceProvider services, ILogger<IicGrpcServer> logger)
    {
        _services = services;
        _options = options;
        _options.Validate();
        _partitions = sharedPartitions ?? (_ownPartitions = new IicPartitionHost(options.Transport));
        _registry = registry;
        _log = new ServerLog(logger);
        if (services.GetService<System.Diagnostics.Metrics.IMeterFactory>() is { } meterFactory)
        {
            IIC.Grpc.Telemetry.GrpcTelemetry.UseMeterFactory(meterFactory); // the host's meters (the .NET guidance for libraries in a host)
        }
    }

    /// <summary>The IICFast service name this server offers.</summary>
    public string ServiceName => _options.ServiceName!;

    /// <summary>Offers the service and starts accepting connections.</summary>
    /// <exception cref="IIC.Hardware.HypervisorException">The hypervisor is not reachable or refused the service.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var methods = _registry.Build(_services, new ServerSettings(_options.MaxSendMessageSize ?? int.MaxValue, _options.MaxReceiveMessageSize ?? int.MaxValue, _options.EnableDetailedErrors, _options.RunHandlersInline, _log));
        // The transport refuses a fragmented frame longer than a frame may be (docs/grpc-call-protocol.md 2.9).
        _listener = IicListener.Listen(_partitions.GetPartition(), ServiceName, CallConnection.WithFrameReceiveLimit(_options.ChannelOptions, _options.MaxMetadataSize));
        _log.Listening(ServiceName, methods.Count);
        _acceptLoop = Task.Run(() => AcceptLoopAsync(methods), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync(IReadOnlyDictionary<string, ServerMethod> methods)
    {
        var maxReceive = _options.MaxReceiveMessageSize ?? int.MaxValue;
        var maxCalls = _options.MaxConcurrentCallsPerConnection is { } limit ? (uint)limit : Frame.NoCallLimit;
        try
        {
            while (true)
            {
                var channel = await _listener!.AcceptAsync(_stopping.Token).ConfigureAwait(false);
                _log.Connected(ServiceName);
                lock (_lock)
                {
                    if (_stopping.IsCancellationRequested)
                    {
                        channel.Dispose();
                        return;
                    }
                    _connections.Add(new ServerConnection(channel, ServiceName, methods, maxReceive, maxCalls, _options.ResponseStallTimeout, _log, Forget, _options.MaxMetadataSize));
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // stopping
        }
        catch (Exception e) when (ConnectionErrors.IsLoss(e))
        {
            if (!_stopping.IsCancellationRequested)
            {
                _log.AcceptFailed(e, ServiceName);
            }
        }
    }

    private void Forget(ServerConnection connection)
    {
        lock (_lock)
        {
            _connections.Remove(connection);
            if (_connections.Count == 0)
            {
                _drained?.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Stops gracefully, as Kestrel does: stops accepting, tells every client to start no more calls on its connection (a
    /// GoAway frame, docs/grpc-call-protocol.md 2.10) and lets the calls in flight finish; each client closes its
    /// connection once its calls ended, and this returns when none is left. What is still open when
    /// <paramref name="cancellationToken"/> fires (in a host: its <c>ShutdownTimeout</c>, 30 s by default) is closed then,
    /// its calls cancelled (their handlers' tokens fire; their clients get <c>Unavailable</c>). Returns normally either way.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        TaskCompletionSource drained;
        ServerConnection[] connections;
        try
        {
            if (_acceptLoop is not null)
            {
                await _acceptLoop.WaitAsync(cancellationToken).ConfigureAwait(false); // it ends at once: its accept was cancelled
            }
            lock (_lock)
            {
                connections = [.. _connections];
                drained = _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_connections.Count == 0)
                {
                    drained.TrySetResult();
                }
            }
            if (connections.Length != 0)
            {
                _log.Draining(ServiceName, connections.Length);
                foreach (var connection in connections)
                {
                    connection.BeginDrain();
                }
            }
            await drained.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The stop's time ran out: what is left is closed below.
        }
        lock (_lock)
        {
            connections = [.. _connections];
        }
        if (connections.Length != 0)
        {
            _log.DrainCutShort(ServiceName, connections.Length);
        }
        foreach (var connection in connections)
        {
            connection.Dispose();
        }
    }

    /// <summary>Stops (if still running) and releases the listener.</summary>
    public void Dispose()
    {
        _stopping.Cancel();
        _listener?.Dispose();
        lock (_lock)
        {
            foreach (var connection in _connections.ToArray())
            {
                connection.Dispose();
            }
        }
        _stopping.Dispose();
        _ownPartitions?.Dispose();
    }
}
