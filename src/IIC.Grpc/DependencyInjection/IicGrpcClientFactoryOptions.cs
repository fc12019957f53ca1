using Grpc.Core.Interceptors;

namespace IIC.Grpc;

/// <summary>
/// How <see cref="IicGrpcClientServiceCollectionExtensions.AddIicGrpcClient{TClient}(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{IicGrpcClientFactoryOptions})"/>
/// makes one named client's channel: where it goes and with which options (the options pattern: named after the client).
/// </summary>
public sealed class IicGrpcClientFactoryOptions
{
    /// <summary>
    /// <c>iic://SERVICE</c> (the native path on this machine) or <c>http(s)://HOST:PORT</c> (a standard GrpcChannel over
    /// the network). Null: the configuration's <c>Services:NAME</c> (NAME the client's name) is used.
    /// </summary>
    public string? Address { get; set; }

    /// <summary>The channel's options for both paths (the native path's hypervisor and connections, the limits, the HTTP channel's adjustments).</summary>
    public GrpcServiceChannelOptions Channel { get; set; } = new();

    /// <summary>The interceptors' factories, in the order they were added (the first added runs first).</summary>
    internal List<Func<IServiceProvider, Interceptor>> Interceptors { get; } = [];
}
