using System.Net;
using IIC.Transport;
using Microsoft.AspNetCore.Connections;

namespace IIC.AspNetCore;

/// <summary>
/// The Kestrel transport for <see cref="IicEndPoint"/>s. As an <see cref="IConnectionListenerFactorySelector"/> it
/// claims only those, so Kestrel keeps binding IP and Unix socket endpoints with its sockets transport, side by side.
/// </summary>
public sealed class IicConnectionListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly IicPartitionHost _host;

    /// <summary>A factory offering services through <paramref name="host"/>'s partitions.</summary>
    public IicConnectionListenerFactory(IicPartitionHost host)
    {
        _host = host ?? throw new ArgumentNullException(nameof(host));
    }

    /// <summary>True for <see cref="IicEndPoint"/>s only.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IicEndPoint;

    /// <summary>Offers the endpoint's service through the hypervisor (attaching the partition on first use).</summary>
    /// <exception cref="NotSupportedException">The endpoint is not an <see cref="IicEndPoint"/>.</exception>
    /// <exception cref="IIC.Hardware.HypervisorException">The hypervisor is not running, or the service is already offered.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IicEndPoint iic)
        {
            throw new NotSupportedException($"The IICFast transport binds only IicEndPoint, not {endpoint?.GetType().Name ?? "null"}.");
        }
        var partition = _host.GetPartition(iic.HypervisorName);
        var listener = IicListener.Listen(partition, iic.Service, iic.ChannelOptions ?? _host.Options.ChannelOptions);
        IicLog.ServiceOffered(_host.Logger, iic.ToString(), iic.HypervisorName ?? _host.Options.HypervisorName);
        return new ValueTask<IConnectionListener>(new IicConnectionListener(iic, listener, _host.Options.EffectivePipeOptions, _host.Logger));
    }
}
