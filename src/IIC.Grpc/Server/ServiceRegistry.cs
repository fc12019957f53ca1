using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>The services added to the native gRPC server (at configuration time), bound to a method table when it starts.</summary>
/// <param name="registrations">The application's service collection (read when the server starts, to see how each service is registered), if known.</param>
internal sealed class ServiceRegistry(IServiceCollection? registrations = null)
{
    private readonly List<Action<IServiceProvider, ServerSettings, Dictionary<string, ServerMethod>>> _binders = [];

    public void Add<[DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService>()
        where TService : class
        => _binders.Add((root, settings, methods) => ServiceBinder.Bind(
            new ServiceActivator<TService>(root, LifetimeOf(typeof(TService)), registrations is not null), root.GetRequiredService<IServiceScopeFactory>(), settings, methods));

    /// <summary>The lifetime of the last (winning) non-keyed registration of <paramref name="type"/>; null when it is not registered.</summary>
    private ServiceLifetime? LifetimeOf(Type type)
        => registrations?.LastOrDefault(d => d.ServiceType == type && !d.IsKeyedService)?.Lifetime;

    /// <summary>The method table: full method name to its binding.</summary>
    /// <exception cref="InvalidOperationException">No service was added, or a service cannot be bound (the message says why).</exception>
    public IReadOnlyDictionary<string, ServerMethod> Build(IServiceProvider root, ServerSettings settings)
    {
        if (_binders.Count == 0)
        {
            throw new InvalidOperationException("The native gRPC server has no service: add one with services.AddIicGrpcServer(...).AddService<TService>().");
        }
        var methods = new Dictionary<string, ServerMethod>(StringComparer.Ordinal);
        foreach (var bind in _binders)
        {
            bind(root, settings, methods);
        }
        return methods;
    }
}
