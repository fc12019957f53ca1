using Grpc.Core.Interceptors;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc;

/// <summary>Configures a client registered by <see cref="IicGrpcClientServiceCollectionExtensions"/>: its interceptors and its channel.</summary>
public sealed class IicGrpcClientBuilder
{
    internal IicGrpcClientBuilder(IServiceCollection services, string name)
    {
        Services = services;
        Name = name;
    }

    /// <summary>The service collection the client is registered in.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The client's name (its options' name, and the configuration key <c>Services:NAME</c> when no address is set).</summary>
    public string Name { get; }

    /// <summary>
    /// Adds an interceptor resolved from the container each time a client is made (register it with the lifetime it needs),
    /// as Grpc.Net.ClientFactory's <c>AddInterceptor&lt;T&gt;</c>. Interceptors run in the order they were added.
    /// </summary>
    public IicGrpcClientBuilder AddInterceptor<TInterceptor>()
        where TInterceptor : Interceptor
        => AddInterceptor(static provider => provider.GetRequiredService<TInterceptor>());

    /// <summary>Adds an interceptor made by <paramref name="factory"/> each time a client is made. Interceptors run in the order they were added.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public IicGrpcClientBuilder AddInterceptor(Func<IServiceProvider, Interceptor> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<IicGrpcClientFactoryOptions>(Name, options => options.Interceptors.Add(factory));
        return this;
    }

    /// <summary>Adjusts the channel's options (both paths), after the registration's own configuration.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="configure"/> is null.</exception>
    public IicGrpcClientBuilder ConfigureChannel(Action<GrpcServiceChannelOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure<IicGrpcClientFactoryOptions>(Name, options => configure(options.Channel));
        return this;
    }
}
