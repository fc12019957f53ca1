using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>Adds services to the native gRPC server (<see cref="IicGrpcServiceCollectionExtensions.AddIicGrpcServer"/>).</summary>
public sealed class IicGrpcServerBuilder
{
    private readonly ServiceRegistry _registry;

    internal IicGrpcServerBuilder(IServiceCollection services, ServiceRegistry registry)
    {
        Services = services;
        _registry = registry;
    }

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Serves <typeparamref name="TService"/>, a class derived from a Grpc.Tools generated service base (the same class
    /// Grpc.AspNetCore's <c>MapGrpcService</c> takes). Each call gets the instance from its own DI scope when the type is
    /// registered, else a new one made with its constructor's dependencies and disposed after the call. No scope is made
    /// when none is needed: a singleton registration is resolved once, and an unregistered service whose only constructor
    /// takes nothing is made per call without one.
    /// </summary>
    /// <returns>This builder.</returns>
    public IicGrpcServerBuilder AddService<[DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService>()
        where TService : class
    {
        _registry.Add<TService>();
        return this;
    }
}
