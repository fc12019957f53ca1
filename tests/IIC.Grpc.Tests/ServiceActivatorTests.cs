using IIC.Grpc.Server;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Tests;

/// <summary>
/// When a call gets a DI scope (issue 16: the scope was ~16 µs of a cold call): only when the service can resolve
/// something scoped. Whether the scope really is per call is proven across processes by CallShapeTests.
/// </summary>
public sealed class ServiceActivatorTests
{
    [Fact]
    public void A_singleton_service_needs_no_scope_and_is_the_one_instance()
    {
        var services = new ServiceCollection();
        services.AddSingleton<Parameterless>();
        using var root = services.BuildServiceProvider();
        var activator = new ServiceActivator<Parameterless>(root, ServiceLifetime.Singleton, registrationKnown: true);
        Assert.False(activator.NeedsScope);
        var (first, created) = activator.Activate(null);
        Assert.False(created, "the container owns a singleton: the call must not dispose it");
        Assert.Same(root.GetRequiredService<Parameterless>(), first);
        Assert.Same(first, activator.Activate(null).Service);
    }

    [Fact]
    public void An_unregistered_service_with_a_parameterless_constructor_is_new_per_call_without_a_scope()
    {
        using var root = new ServiceCollection().BuildServiceProvider();
        var activator = new ServiceActivator<Parameterless>(root, registration: null, registrationKnown: true);
        Assert.False(activator.NeedsScope);
        var (first, created) = activator.Activate(null);
        Assert.True(created, "the call made it, so the call disposes it");
        Assert.NotSame(first, activator.Activate(null).Service);
    }

    [Theory]
    [InlineData(ServiceLifetime.Scoped, true)]
    [InlineData(ServiceLifetime.Transient, true)]
    [InlineData(null, true)] // unregistered, but its constructor takes a dependency that may be scoped
    [InlineData(ServiceLifetime.Scoped, false)] // registrations unknown: always a scope
    public void Anything_that_may_resolve_scoped_services_gets_a_scope_per_call(ServiceLifetime? lifetime, bool known)
    {
        IServiceCollection services = new ServiceCollection();
        services.AddScoped<Dependency>();
        if (lifetime is { } registered)
        {
            services.Add(new ServiceDescriptor(typeof(WithDependency), typeof(WithDependency), registered));
        }
        using var root = services.BuildServiceProvider();
        var activator = new ServiceActivator<WithDependency>(root, lifetime, known);
        Assert.True(activator.NeedsScope);
        using var scope1 = root.CreateScope();
        using var scope2 = root.CreateScope();
        var first = activator.Activate(scope1.ServiceProvider).Service;
        var second = activator.Activate(scope2.ServiceProvider).Service;
        Assert.NotSame(first.Dependency, second.Dependency);
        Assert.Same(scope1.ServiceProvider.GetRequiredService<Dependency>(), first.Dependency);
    }

    [Fact]
    public void A_service_with_a_dependency_and_no_registration_gets_a_scope()
    {
        using var root = new ServiceCollection().BuildServiceProvider();
        Assert.True(new ServiceActivator<WithDependency>(root, registration: null, registrationKnown: true).NeedsScope);
    }

    public sealed class Parameterless
    {
    }

    public sealed class Dependency
    {
    }

    public sealed class WithDependency(Dependency dependency)
    {
        public Dependency Dependency { get; } = dependency;
    }
}
