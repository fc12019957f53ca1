using System.Net;
using Microsoft.Extensions.Configuration;

namespace IIC.AspNetCore;

/// <summary>
/// The one switch point between IICFast and the network: a service's address in configuration, either
/// <c>iic://greeter</c> (same machine: HTTP/2 over a shared-memory channel) or an ordinary URL such as
/// <c>http://host:5000</c> (another machine: HTTP/2 over TCP). Application code asks this type for the address and the
/// handler and never knows which one it got:
/// <code>
/// var greeter = IicServiceAddress.FromConfiguration(configuration, "greeter");   // "Services:greeter"
/// using var channel = GrpcChannel.ForAddress(greeter.Address, new() { HttpHandler = greeter.CreateHandler(iicOptions) });
/// </code>
/// The server side binds the same strings with <see cref="IicKestrelServerOptionsExtensions.ListenAddress"/>.
/// </summary>
public sealed class IicServiceAddress
{
    /// <summary>The configuration section holding the service addresses: <c>Services:NAME</c>.</summary>
    public const string ServicesSection = "Services";

    private IicServiceAddress(Uri address, string? service, string text)
    {
        Address = address;
        Service = service;
        Text = text;
    }

    /// <summary>The address to give HttpClient or GrpcChannel: <c>http://SERVICE</c> for IICFast, the URL otherwise.</summary>
    public Uri Address { get; }

    /// <summary>The IICFast service name, or null for a network address.</summary>
    public string? Service { get; }

    /// <summary>Whether the service is reached through IICFast.</summary>
    public bool IsIic => Service is not null;

    /// <summary>The address as written.</summary>
    public string Text { get; }

    /// <summary>Parses <c>iic://SERVICE</c> or an absolute <c>http://</c> / <c>https://</c> URL.</summary>
    /// <exception cref="FormatException">Neither (the message shows both forms).</exception>
    public static IicServiceAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const string prefix = IicEndPoint.Scheme + "://";
        if (text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            var service = text[prefix.Length..].TrimEnd('/');
            if (service.Length == 0 || service.Contains('/', StringComparison.Ordinal) || !Uri.CheckHostName(service).Equals(UriHostNameType.Dns))
            {
                throw new FormatException($"'{text}' names no IICFast service: write iic://SERVICE with a host-like name such as iic://greeter.");
            }
            return new IicServiceAddress(new Uri($"http://{service}"), service, text);
        }
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            return new IicServiceAddress(uri, null, text);
        }
        throw new FormatException($"'{text}' is not a service address: write iic://SERVICE for IICFast on this machine or http://HOST:PORT for another.");
    }

    /// <summary>Reads <c>Services:<paramref name="name"/></c> from <paramref name="configuration"/>.</summary>
    /// <exception cref="InvalidOperationException">The key is missing.</exception>
    /// <exception cref="FormatException">The value is not a service address.</exception>
    public static IicServiceAddress FromConfiguration(IConfiguration configuration, string name)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var key = $"{ServicesSection}:{name}";
        var value = configuration[key] ?? throw new InvalidOperationException($"Configuration has no address for service '{name}': set {key} to iic://{name} (this machine) or http://HOST:PORT.");
        return Parse(value);
    }

    /// <summary>
    /// The handler for this address: <see cref="IicHttpHandler.Create(string, IicTransportOptions?)"/> for IICFast, a plain
    /// <see cref="SocketsHttpHandler"/> for the network.
    /// </summary>
    /// <param name="options">The IICFast options (hypervisor, socket directory); ignored for network addresses.</param>
    public HttpMessageHandler CreateHandler(IicTransportOptions? options = null)
        => IsIic ? IicHttpHandler.Create(Service!, options) : new SocketsHttpHandler { EnableMultipleHttp2Connections = true };

    /// <summary>An HTTP/2-only <see cref="HttpClient"/> for this address (base address set; h2c prior knowledge over plain http).</summary>
    public HttpClient CreateHttpClient(IicTransportOptions? options = null)
        => new(CreateHandler(options), disposeHandler: true)
        {
            BaseAddress = Address,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

    /// <inheritdoc />
    public override string ToString() => Text;
}
