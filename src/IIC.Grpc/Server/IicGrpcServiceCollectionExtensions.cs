using IIC.AspNetCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace IIC.Grpc.Server;

/// <summary>Registers the native gRPC server.</summary>
public static class IicGrpcServiceCollectionExtensions
{
    /// <summary>
    /// Adds the native gRPC server as a hosted service:
    /// <code>
    /// builder.Services.AddIicGrpcServer(o => o.ServiceName = "greeter").AddService&lt;GreeterService&gt;();
    /// </code>
    /// It starts with the host, offers the service through the hypervisor, and stops with it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (<see cref="IicGrpcServerOptions.ServiceName"/> at least).</param>
    /// <returns>A builder to add services with.</returns>
    /// <exception cref="InvalidOperationException">Called twice on one collection.</exception>
    public static IicGrpcServerBuilder AddIicGrpcServer(this IServiceCollection services, Action<IicGrpcServerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        if (services.Any(d => d.ServiceType == typeof(IicGrpcServer)))
        {
            throw new InvalidOperationException("AddIicGrpcServer was already called: configure one native gRPC server per host and add every service to it.");
        }
        var options = new IicGrpcServerOptions();
        configure(options);
        var registry = new ServiceRegistry(services);
        services.AddLogging();
        services.AddSingleton(sp => new IicGrpcServer(options, sp.GetService<IicPartitionHost>(), registry,
            sp, sp.GetRequiredService<ILogger<IicGrpcServer>>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, IicGrpcServer>(sp => sp.GetRequiredService<IicGrpcServer>()));
        return new IicGrpcServerBuilder(services, registry);
    }
}
