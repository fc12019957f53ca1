using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>The services added to the native gRPC server (at configuration time), bound to a method table when it starts.</summary>
internal sealed class ServiceRegistry
{
    private readonly List<Action<IServiceScopeFactory, ServerSettings, Dictionary<string, ServerMethod>>> _binders = [];

    public void Add<[DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService>()
        where TService : class
        => _binders.Add(static (scopes, settings, methods) => ServiceBinder.Bind<TService>(scopes, settings, methods));

    /// <summary>The method table: full method name to its binding.</summary>
    /// <exception cref="InvalidOperationException">No service was added, or a service cannot be bound (the message says why).</exception>
    public IReadOnlyDictionary<string, ServerMethod> Build(IServiceScopeFactory scopes, ServerSettings settings)
    {
        if (_binders.Count == 0)
        {
            throw new InvalidOperationException("The native gRPC server has no service: add one with services.AddIicGrpcServer(...).AddService<TService>().");
        }
        var methods = new Dictionary<string, ServerMethod>(StringComparer.Ordinal);
        foreach (var bind in _binders)
        {
            bind(scopes, settings, methods);
        }
        return methods;
    }
}
