using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>
/// Receives the methods a generated <c>BindService(ServiceBinderBase, TService)</c> declares. As in Grpc.AspNetCore,
/// BindService is called with a null instance (the handlers it passes are null): each method is bound instead to an
/// open delegate over <typeparamref name="TService"/>'s method of the same name, so every call can run on an instance
/// resolved from its own DI scope.
/// </summary>
internal sealed class ServiceBinder<[DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService>(
    ServiceActivator<TService> activator, IServiceScopeFactory services, ServerSettings settings, Dictionary<string, ServerMethod> methods) : ServiceBinderBase
    where TService : class
{

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        => Add(new ServerMethod<TService, TRequest, TResponse>(method, services, activator, settings)
        {
            Unary = Bind<Func<TService, TRequest, ServerCallContext, Task<TResponse>>>(method.Name, typeof(TRequest), typeof(ServerCallContext)),
        });

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(new ServerMethod<TService, TRequest, TResponse>(method, services, activator, settings)
        {
            ServerStreaming = Bind<Func<TService, TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task>>(
                method.Name, typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)),
        });

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(new ServerMethod<TService, TRequest, TResponse>(method, services, activator, settings)
        {
            ClientStreaming = Bind<Func<TService, IAsyncStreamReader<TRequest>, ServerCallContext, Task<TResponse>>>(
                method.Name, typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext)),
        });

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(new ServerMethod<TService, TRequest, TResponse>(method, services, activator, settings)
        {
            DuplexStreaming = Bind<Func<TService, IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, ServerCallContext, Task>>(
                method.Name, typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)),
        });

    private void Add(ServerMethod method)
    {
        if (!methods.TryAdd(method.FullName, method))
        {
            throw new InvalidOperationException($"The method {method.FullName} is bound twice: add each service to the native gRPC server once.");
        }
    }

    /// <summary>An open delegate over the public instance method <paramref name="name"/>(<paramref name="parameters"/>) of the service.</summary>
    private static TDelegate Bind<TDelegate>(string name, params Type[] parameters)
        where TDelegate : Delegate
    {
        var method = typeof(TService).GetMethod(name, BindingFlags.Public | BindingFlags.Instance, parameters)
            ?? throw new InvalidOperationException($"{typeof(TService).Name} has no public method {name}({string.Join(", ", parameters.Select(p => p.Name))}) for the gRPC method it binds.");
        return method.CreateDelegate<TDelegate>();
    }
}

/// <summary>Binds services by their generated BindService method.</summary>
internal static class ServiceBinder
{
    /// <summary>What binding needs to see of a service type: its constructors (activation) and public methods.</summary>
    public const DynamicallyAccessedMemberTypes ServiceMembers = DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicMethods;

    /// <summary>Finds the generated <c>BindService(ServiceBinderBase, TBase)</c> through <see cref="BindServiceMethodAttribute"/> on a base class and calls it with a null instance.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "BindServiceMethodAttribute's BindType is the generated service class; Grpc.Tools generates BindService as a public static method on it, which the attribute's constructor preserves.")]
    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Same as above.")]
    public static void Bind<[DynamicallyAccessedMembers(ServiceMembers)] TService>(ServiceActivator<TService> activator, IServiceScopeFactory services, ServerSettings settings, Dictionary<string, ServerMethod> methods)
        where TService : class
    {
        var attribute = typeof(TService).GetCustomAttribute<BindServiceMethodAttribute>(inherit: true)
            ?? throw new InvalidOperationException($"{typeof(TService).Name} is not a generated gRPC service: derive it from the base class Grpc.Tools generates (it carries [BindServiceMethod]).");
        var bind = attribute.BindType.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .FirstOrDefault(m => m.Name == attribute.BindMethodName && m.GetParameters() is [{ } first, _] && first.ParameterType == typeof(ServiceBinderBase))
            ?? throw new InvalidOperationException($"{attribute.BindType.Name} has no {attribute.BindMethodName}(ServiceBinderBase, service) method.");
        bind.Invoke(null, [new ServiceBinder<TService>(activator, services, settings, methods), null]);
    }
}
