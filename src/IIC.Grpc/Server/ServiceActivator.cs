using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>
/// How a call gets its <typeparamref name="TService"/> instance, decided once when the service is bound. Grpc.AspNetCore's
/// default activator takes the instance from the request's DI scope when the type is registered, else makes one with
/// <see cref="ActivatorUtilities"/> and disposes it after the call; this does the same, but makes a DI scope per call only
/// when something scoped can be resolved in it: not for a service registered as a singleton (one instance, from the root
/// provider), nor for an unregistered service whose only public constructor takes nothing (a new instance per call, no
/// scope). Making and disposing a scope cost ~16 µs of a cold call (perf/RESULTS.md, issue 16).
/// </summary>
internal sealed class ServiceActivator<[DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService>
    where TService : class
{
    private readonly ObjectFactory _factory = ActivatorUtilities.CreateFactory(typeof(TService), []);
    private readonly IServiceProvider _root;
    private readonly Kind _kind;
    private TService? _singleton;

    /// <param name="root">The application's root provider.</param>
    /// <param name="registration">The lifetime <typeparamref name="TService"/> is registered with, or null when it is not registered (or unknown).</param>
    /// <param name="registrationKnown">Whether the registrations could be inspected at all; if not, every call gets a scope.</param>
    public ServiceActivator(IServiceProvider root, ServiceLifetime? registration, bool registrationKnown)
    {
        _root = root;
        _kind = !registrationKnown ? Kind.Scoped
            : registration == ServiceLifetime.Singleton ? Kind.Singleton
            : registration is null && typeof(TService).GetConstructors() is [{ } only] && only.GetParameters().Length == 0 ? Kind.NewUnscoped
            : Kind.Scoped;
    }

    /// <summary>Whether a call needs a DI scope of its own to resolve the service.</summary>
    public bool NeedsScope => _kind == Kind.Scoped;

    /// <summary>The service instance for one call, and whether this call created it (and so disposes it).</summary>
    /// <param name="scope">The call's scope (when <see cref="NeedsScope"/>), else ignored.</param>
    public (TService Service, bool Created) Activate(IServiceProvider? scope) => _kind switch
    {
        // A DI singleton: the container hands out one instance; caching it skips the lookup (a race resolves it twice, same instance).
        Kind.Singleton => (_singleton ??= _root.GetRequiredService<TService>(), false),
        // Activator's cached allocator-plus-constructor call, not the ObjectFactory (an argument array and a reflection
        // invoker per call): less code and data on a cold call's path; a throwing constructor fails the call either way.
        Kind.NewUnscoped => (Activator.CreateInstance<TService>(), true),
        _ => scope!.GetService<TService>() is { } registered ? (registered, false) : ((TService)_factory(scope!, null), true),
    };

    private enum Kind
    {
        Scoped,
        Singleton,
        NewUnscoped,
    }
}
