using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;

namespace IIC.AspNetCore;

/// <summary>Binds Kestrel to service addresses (<c>iic://SERVICE</c> or <c>http://HOST:PORT</c>), the server half of <see cref="IicServiceAddress"/>.</summary>
public static class IicKestrelServerOptionsExtensions
{
    /// <summary>
    /// Listens on <paramref name="address"/>: an <see cref="IicEndPoint"/> for <c>iic://SERVICE</c>, an IP endpoint for
    /// <c>http://IP:PORT</c> (<c>localhost</c> binds the loopback addresses, <c>*</c> or <c>0.0.0.0</c> every interface).
    /// Protocols default to HTTP/2 (prior knowledge, as gRPC needs over plain http); <paramref name="configure"/> may change them.
    /// </summary>
    /// <exception cref="FormatException">The address is neither form, or an http address has no IP, localhost or * host.</exception>
    public static void ListenAddress(this KestrelServerOptions options, string address, Action<ListenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var parsed = IicServiceAddress.Parse(address);
        void Configure(ListenOptions listen)
        {
            listen.Protocols = HttpProtocols.Http2;
            configure?.Invoke(listen);
        }
        if (parsed.IsIic)
        {
            options.Listen(new IicEndPoint(parsed.Service!), Configure);
            return;
        }
        var uri = parsed.Address;
        if (uri.Scheme != Uri.UriSchemeHttp)
        {
            throw new FormatException($"'{address}': bind https endpoints with Kestrel's own configuration; ListenAddress binds http:// and iic:// only.");
        }
        var port = uri.Port;
        if (uri.Host is "localhost")
        {
            options.ListenLocalhost(port, Configure);
        }
        else if (uri.Host is "*" or "+" or "0.0.0.0")
        {
            options.ListenAnyIP(port, Configure);
        }
        else if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip))
        {
            options.Listen(new IPEndPoint(ip, port), Configure);
        }
        else
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"'{address}': a server binds an IP address, localhost or *, not the host name '{uri.Host}'."));
        }
    }

    /// <summary>
    /// Listens on every address of a configuration list, e.g. <c>"Listen": [ "iic://greeter", "http://0.0.0.0:5000" ]</c>:
    /// the same service over IICFast for local clients and over TCP for remote ones.
    /// </summary>
    /// <returns>The number of addresses bound.</returns>
    public static int ListenAddresses(this KestrelServerOptions options, IConfiguration section, Action<ListenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(section);
        var count = 0;
        foreach (var child in section.GetChildren())
        {
            if (!string.IsNullOrWhiteSpace(child.Value))
            {
                options.ListenAddress(child.Value, configure);
                count++;
            }
        }
        return count;
    }
}
