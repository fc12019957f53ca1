using Grpc.Core;
using Grpc.Net.Client;
using IIC.AspNetCore;
using IIC.Grpc.Client;
using Microsoft.Extensions.Configuration;

namespace IIC.Grpc;

/// <summary>
/// The one switch between shared memory and the network for gRPC clients: an address becomes a <see cref="CallInvoker"/>.
/// <c>iic://greeter</c> gives the native IICFast path (<see cref="IicCallInvoker"/>, no HTTP/2); <c>http://host:port</c>
/// or <c>https://...</c> gives a standard <see cref="GrpcChannel"/> over TCP, which spans machines. The application
/// code is the same either way:
/// <code>
/// using var channel = GrpcServiceChannel.FromConfiguration(configuration, "greeter");   // Services:greeter
/// var client = new Greeter.GreeterClient(channel.CallInvoker);
/// </code>
/// Addresses are parsed by IIC.AspNetCore's <see cref="IicServiceAddress"/>, the same switch its HTTP/2 handler uses.
/// </summary>
public sealed class GrpcServiceChannel : IDisposable
{
    private readonly IDisposable _owned;

    private GrpcServiceChannel(IicServiceAddress address, CallInvoker invoker, IDisposable owned)
    {
        Address = address;
        CallInvoker = invoker;
        _owned = owned;
    }

    /// <summary>The address the channel was made for.</summary>
    public IicServiceAddress Address { get; }

    /// <summary>Whether calls take the native IICFast path (else HTTP/2 over TCP).</summary>
    public bool IsNative => Address.IsIic;

    /// <summary>The invoker to give generated clients.</summary>
    public CallInvoker CallInvoker { get; }

    /// <summary>A channel for <paramref name="address"/>: <c>iic://SERVICE</c> or <c>http(s)://HOST:PORT</c>.</summary>
    /// <exception cref="FormatException">Neither form (the message shows both).</exception>
    public static GrpcServiceChannel ForAddress(string address, GrpcServiceChannelOptions? options = null)
        => ForAddress(IicServiceAddress.Parse(address), options);

    /// <summary>A channel for the address in <c>Services:<paramref name="name"/></c>.</summary>
    /// <exception cref="InvalidOperationException">The key is missing.</exception>
    /// <exception cref="FormatException">The value is not a service address.</exception>
    public static GrpcServiceChannel FromConfiguration(IConfiguration configuration, string name, GrpcServiceChannelOptions? options = null)
        => ForAddress(IicServiceAddress.FromConfiguration(configuration, name), options);

    /// <summary>A channel for a parsed address.</summary>
    public static GrpcServiceChannel ForAddress(IicServiceAddress address, GrpcServiceChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        options ??= new GrpcServiceChannelOptions();
        if (address.IsIic)
        {
            var native = options.Native ?? new IicGrpcClientOptions();
            native.MaxReceiveMessageSize = options.MaxReceiveMessageSize;
            native.MaxSendMessageSize = options.MaxSendMessageSize;
            var invoker = new IicCallInvoker(address.Service!, native);
            return new GrpcServiceChannel(address, invoker, invoker);
        }
        var http = new GrpcChannelOptions
        {
            HttpHandler = address.CreateHandler(),
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxReceiveMessageSize,
            MaxSendMessageSize = options.MaxSendMessageSize,
        };
        options.ConfigureHttp?.Invoke(http);
        var channel = GrpcChannel.ForAddress(address.Address, http);
        return new GrpcServiceChannel(address, channel.CreateCallInvoker(), channel);
    }

    /// <summary>Closes the channels underneath; calls in flight end with <c>Unavailable</c> (native) or are cancelled.</summary>
    public void Dispose() => _owned.Dispose();
}
