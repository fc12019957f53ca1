using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace IIC.AspNetCore;

/// <summary>Points a named or typed <see cref="HttpClient"/> of the HTTP client factory at an IICFast service.</summary>
public static class IicHttpClientBuilderExtensions
{
    /// <summary>
    /// Makes the client's primary handler <see cref="IicHttpHandler.Create(string, IicTransportOptions?)"/> for
    /// <paramref name="service"/>, with the <see cref="IicTransportOptions"/> named <paramref name="optionsName"/>
    /// (<c>IOptionsMonitor&lt;IicTransportOptions&gt;.Get(optionsName)</c>, read each time the factory builds a handler), and
    /// sets the client's base address (<c>http://service/</c>) and HTTP/2-only version policy (h2c prior knowledge).
    /// </summary>
    /// <param name="builder">The builder from <c>AddHttpClient(...)</c>.</param>
    /// <param name="service">The IICFast service name.</param>
    /// <param name="optionsName">The options name (see <see cref="IicServiceCollectionExtensions.AddIicTransportOptions"/>); null means <see cref="Options.DefaultName"/>.</param>
    /// <returns>The builder.</returns>
    public static IHttpClientBuilder UseIicTransport(this IHttpClientBuilder builder, string service, string? optionsName = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(service);
        var name = optionsName ?? Options.DefaultName;
        builder.ConfigurePrimaryHttpMessageHandler(provider =>
            IicHttpHandler.Create(service, provider.GetRequiredService<IOptionsMonitor<IicTransportOptions>>().Get(name)));
        return builder.ConfigureHttpClient(client =>
        {
            client.BaseAddress = new Uri($"http://{service}/");
            client.DefaultRequestVersion = HttpVersion.Version20;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        });
    }
}
