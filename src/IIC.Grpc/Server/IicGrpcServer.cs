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
    }

    /// <summary>The IICFast service name this server offers.</summary>
    public string ServiceName => _options.ServiceName!;

    /// <summary>Offers the service and starts accepting connections.</summary>
    /// <exception cref="IIC.Hardware.HypervisorException">The hypervisor is not reachable or refused the service.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var methods = _registry.Build(_services, new ServerSettings(_options.MaxSendMessageSize ?? int.MaxValue, _options.MaxReceiveMessageSize ?? int.MaxValue, _options.EnableDetailedErrors, _options.RunHandlersInline, _log));
        _listener = IicListener.Listen(_partitions.GetPartition(), ServiceName, _options.ChannelOptions);
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
        }
    }

    /// <summary>Stops accepting and closes every connection (their calls are cancelled).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        ServerConnection[] connections;
        lock (_lock)
        {
            connections = [.. _connections];
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
