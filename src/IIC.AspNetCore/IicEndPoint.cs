using System.Net;
using System.Net.Sockets;
using IIC.Transport;

namespace IIC.AspNetCore;

/// <summary>
/// An IICFast service as a Kestrel endpoint: <c>options.Listen(new IicEndPoint("greeter"), o => o.Protocols = HttpProtocols.Http2)</c>
/// offers <c>greeter</c> through the hypervisor, and every channel a client connects becomes one Kestrel connection.
/// Needs <c>UseIicTransport</c> (<see cref="IicWebHostBuilderExtensions"/>).
/// </summary>
/// <param name="service">The service name clients connect to (ASCII letters, digits, '.', '_', '-', '/').</param>
/// <param name="hypervisorName">The hypervisor to offer it through; null means <see cref="IicTransportOptions.HypervisorName"/>.</param>
/// <param name="channelOptions">The accepted channels' options (ring size is the client's choice; this sets the wait strategy and name); null means <see cref="IicTransportOptions.ChannelOptions"/>.</param>
public sealed class IicEndPoint(string service, string? hypervisorName = null, ChannelOptions? channelOptions = null) : EndPoint
{
    /// <summary>The URI scheme of IICFast service addresses: <c>iic://service</c>.</summary>
    public const string Scheme = "iic";

    /// <summary>The service name.</summary>
    public string Service { get; } = !string.IsNullOrEmpty(service) ? service : throw new ArgumentException("An IICFast endpoint needs a service name.", nameof(service));

    /// <summary>The hypervisor, or null for the transport's default.</summary>
    public string? HypervisorName { get; } = hypervisorName;

    /// <summary>The accepted channels' options, or null for the transport's default.</summary>
    public ChannelOptions? ChannelOptions { get; } = channelOptions;

    /// <summary>
    /// <see cref="AddressFamily.Unix"/>: an IICFast connection is local inter-process communication on one Linux machine
    /// (shared memory brokered over a Unix socket). Kestrel's metrics read it for the <c>network.transport</c> tag of
    /// endpoints they do not know (<c>kestrel.*</c> series of IICFast connections carry <c>network.transport=Unix</c> and
    /// <c>server.address=iic://service</c>); the base class throws <see cref="NotImplementedException"/>, which killed
    /// Kestrel's accept loop as soon as a metrics listener was attached.
    /// </summary>
    public override AddressFamily AddressFamily => AddressFamily.Unix;

    /// <summary><c>iic://service</c>, or <c>iic://service@hypervisor</c> when a hypervisor is named.</summary>
    public override string ToString() => HypervisorName is null ? $"{Scheme}://{Service}" : $"{Scheme}://{Service}@{HypervisorName}";

    /// <summary>Endpoints are equal when they name the same service on the same hypervisor.</summary>
    public override bool Equals(object? obj) => obj is IicEndPoint other && other.Service == Service && other.HypervisorName == HypervisorName;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Service, HypervisorName);
}
