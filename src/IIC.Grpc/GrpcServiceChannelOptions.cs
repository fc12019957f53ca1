using Grpc.Net.Client;
using IIC.Grpc.Client;

namespace IIC.Grpc;

/// <summary>Options for both paths of <see cref="GrpcServiceChannel"/>; the message limits apply to whichever is chosen.</summary>
public sealed class GrpcServiceChannelOptions
{
    /// <summary>The native path's options (<c>iic://</c> addresses): hypervisor, channels, connections.</summary>
    public IicGrpcClientOptions Native { get; set; } = new();

    /// <summary>Adjusts the <see cref="GrpcChannelOptions"/> of the network path (<c>http(s)://</c> addresses), after the limits are set.</summary>
    public Action<GrpcChannelOptions>? ConfigureHttp { get; set; }

    /// <summary>The largest message sent; null means no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>The largest message received (default 4 MiB, as grpc-dotnet); null means no limit.</summary>
    public int? MaxReceiveMessageSize { get; set; } = IicGrpcClientOptions.DefaultMaxReceiveMessageSize;
}
