using System.Diagnostics.CodeAnalysis;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Server;

/// <summary>
/// A method of <typeparamref name="TService"/> bound for the native path: the open delegate that calls it on an
/// instance, and how instances are made (from the call's DI scope if registered, else created with its constructor
/// dependencies and disposed after the call, as Grpc.AspNetCore's default activator does).
/// </summary>
internal sealed class ServerMethod<[DynamicallyAccessedMembers(ServiceBinder.ServiceMembers)] TService, TRequest, TResponse>(
    Method<TRequest, TResponse> method, IServiceScopeFactory services, ServiceActivator<TService> activator, ServerSettings settings)
    : ServerMethod(method.FullName, method.Type)
    where TService : class
    where TRequest : class
    where TResponse : class
{
    public Method<TRequest, TResponse> Method { get; } = method;

    public IServiceScopeFactory Services { get; } = services;

    public int MaxSend => settings.MaxSend;

    public bool DetailedErrors => settings.DetailedErrors;

    public ServerLog Log => settings.Log;

    public bool Inline => settings.Inline;

    public Func<TService, TRequest, ServerCallContext, Task<TResponse>>? Unary { get; init; }

    public Func<TService, TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task>? ServerStreaming { get; init; }

    public Func<TService, IAsyncStreamReader<TRequest>, ServerCallContext, Task<TResponse>>? ClientStreaming { get; init; }

    public Func<TService, IAsyncStreamReader<TRequest>, IServerStreamWriter<TResponse>, ServerCallContext, Task>? DuplexStreaming { get; init; }

    /// <summary>How a call gets its service instance (and whether it needs a DI scope for it).</summary>
    public ServiceActivator<TService> Activator { get; } = activator;

    public override ServerCallBase CreateCall(ServerConnection connection, uint streamId, Metadata requestHeaders, long timeoutMicroseconds)
        => new ServerCall<TService, TRequest, TResponse>(this, connection, streamId, requestHeaders, timeoutMicroseconds);
}

/// <summary>What every bound method shares from the server's options.</summary>
internal sealed record ServerSettings(int MaxSend, int MaxReceive, bool DetailedErrors, bool Inline, ServerLog Log);
