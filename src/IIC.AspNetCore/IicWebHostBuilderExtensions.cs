using System.Diagnostics.Metrics;
using IIC.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace IIC.AspNetCore;

/// <summary>Registers the IICFast Kestrel transport.</summary>
public static class IicWebHostBuilderExtensions
{
    /// <summary>
    /// Lets Kestrel listen on <see cref="IicEndPoint"/>s (next to its ordinary TCP and Unix socket endpoints):
    /// <code>
    /// builder.WebHost.UseIicTransport(o => { o.HypervisorName = "iicfast"; o.StartHypervisor = true; });
    /// builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint("greeter"), l => l.Protocols = HttpProtocols.Http2));
    /// </code>
    /// The partition attaches (and the embedded hypervisor starts, if asked) when Kestrel binds the first such endpoint;
    /// both go away with the host.
    /// </summary>
    /// <param name="builder">The web host builder.</param>
    /// <param name="configure">Sets the <see cref="IicTransportOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static IWebHostBuilder UseIicTransport(this IWebHostBuilder builder, Action<IicTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices(services =>
        {
            var options = new IicTransportOptions();
            configure?.Invoke(options);
            services.AddMetrics();
            services.TryAddSingleton(provider =>
            {
                // The IIC.Transport instruments move onto the host's IMeterFactory (OpenTelemetry and the host's
                // MeterListeners see them scoped to this host); without a host they stay on the static default meter.
                TransportMetrics.UseMeterFactory(provider.GetRequiredService<IMeterFactory>());
                return new IicPartitionHost(options);
            });
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, IicConnectionListenerFactory>(
                provider => new IicConnectionListenerFactory(provider.GetRequiredService<IicPartitionHost>())));
        });
    }
}
