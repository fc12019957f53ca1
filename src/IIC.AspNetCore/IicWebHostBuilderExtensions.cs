using System.Diagnostics.Metrics;
using IIC.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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
    /// both go away with the host. The options are validated when the host starts (<see cref="IicTransportOptionsValidator"/>).
    /// </summary>
    /// <param name="builder">The web host builder.</param>
    /// <param name="configure">Sets the <see cref="IicTransportOptions"/>.</param>
    /// <returns>The builder.</returns>
    public static IWebHostBuilder UseIicTransport(this IWebHostBuilder builder, Action<IicTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices(services =>
        {
            var options = AddCore(services, sectionPath: null);
            if (configure is not null)
            {
                options.Configure(configure);
            }
        });
    }

    /// <summary>
    /// As <see cref="UseIicTransport(IWebHostBuilder, Action{IicTransportOptions}?)"/>, with the options bound from a
    /// configuration section (the options pattern: <c>AddOptions&lt;IicTransportOptions&gt;().Bind(section)</c>, validated
    /// at start): <c>builder.WebHost.UseIicTransport(builder.Configuration.GetSection("Iic"))</c>. A bad value stops the
    /// host at start with an <see cref="OptionsValidationException"/> naming the key, the value and what is allowed
    /// (a value of the wrong type: an <see cref="InvalidOperationException"/> naming the key and the value).
    /// </summary>
    /// <param name="builder">The web host builder.</param>
    /// <param name="section">The configuration section, e.g. <c>Iic</c> (keys as <see cref="IicTransportOptions.ReadFrom"/> lists).</param>
    /// <param name="configure">Applied after the section.</param>
    /// <returns>The builder.</returns>
    public static IWebHostBuilder UseIicTransport(this IWebHostBuilder builder, IConfiguration section, Action<IicTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        return builder.ConfigureServices(services =>
        {
            var options = AddCore(services, (section as IConfigurationSection)?.Path).Bind(section);
            if (configure is not null)
            {
                options.Configure(configure);
            }
        });
    }

    private static OptionsBuilder<IicTransportOptions> AddCore(IServiceCollection services, string? sectionPath)
    {
        services.AddMetrics();
        AddValidationAndFolding(services, Microsoft.Extensions.Options.Options.DefaultName, sectionPath);
        services.TryAddSingleton(provider =>
        {
            // The IIC.Transport instruments move onto the host's IMeterFactory (OpenTelemetry and the host's
            // MeterListeners see them scoped to this host); without a host they stay on the static default meter.
            TransportMetrics.UseMeterFactory(provider.GetRequiredService<IMeterFactory>());
            return new IicPartitionHost(provider.GetRequiredService<IOptions<IicTransportOptions>>().Value,
                provider.GetService<ILoggerFactory>()?.CreateLogger(IicLog.Category));
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, IicConnectionListenerFactory>(
            provider => new IicConnectionListenerFactory(provider.GetRequiredService<IicPartitionHost>())));
        DisplayIicAddresses(services);
        return services.AddOptions<IicTransportOptions>().ValidateOnStart();
    }

    /// <summary>
    /// Decorates the registered server (Kestrel, registered before this by UseKestrel or WebApplication.CreateBuilder) so
    /// its addresses show <c>iic://service</c> rather than Kestrel's <c>http://iic://service</c>. Does nothing when no
    /// server is registered yet, or when it is already decorated.
    /// </summary>
    private static void DisplayIicAddresses(IServiceCollection services)
    {
        var index = -1;
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IServer))
            {
                index = i;
                break;
            }
        }
        if (index < 0 || services[index].IsKeyedService || services[index].ImplementationType == typeof(IicServerAddressesServer) || services.Any(d => d.ServiceType == typeof(IicServerAddressesMarker)))
        {
            return;
        }
        var inner = services[index];
        services[index] = ServiceDescriptor.Describe(typeof(IServer), provider => new IicServerAddressesServer((IServer)(inner.ImplementationInstance
            ?? inner.ImplementationFactory?.Invoke(provider)
            ?? ActivatorUtilities.CreateInstance(provider, inner.ImplementationType!))), inner.Lifetime);
        services.AddSingleton<IicServerAddressesMarker>();
    }

    private sealed class IicServerAddressesMarker;

    /// <summary>
    /// Registers, once per container, the validator of every name and the folding of the configuration-only keys, and
    /// records <paramref name="name"/>'s section path for the validator's messages.
    /// </summary>
    internal static void AddValidationAndFolding(IServiceCollection services, string name, string? sectionPath)
    {
        var paths = (IicOptionsSectionPaths?)services.FirstOrDefault(d => d.ServiceType == typeof(IicOptionsSectionPaths))?.ImplementationInstance;
        if (paths is null)
        {
            paths = new IicOptionsSectionPaths();
            services.AddSingleton(paths);
            services.AddSingleton<IValidateOptions<IicTransportOptions>>(new IicNamedOptionsValidator(paths));
        }
        paths.Set(name, sectionPath);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<IicTransportOptions>, ApplyConfiguredValues>());
    }

    /// <summary>Folds the configuration-only keys (RingCapacity, WaitStrategy, ConnectTimeoutSeconds) into the channel options (every name).</summary>
    private sealed class ApplyConfiguredValues : IPostConfigureOptions<IicTransportOptions>
    {
        public void PostConfigure(string? name, IicTransportOptions options) => options.ApplyConfiguredValues();
    }
}
