using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using IIC.AspNetCore;
using IIC.Grpc;

namespace IIC.GrpcPerf;

/// <summary>The four ways the client reaches the one server process, each as a CallInvoker and what to dispose.</summary>
internal static class PerfPaths
{
    public static readonly string[] All = ["native-iic", "http2-iic", "http2-tcp", "http2-uds"];

    public static (CallInvoker Invoker, IDisposable Owner) Open(string path, string hypervisor, string socketDirectory, string wait, Uri tcp, string unixSocket, bool nativeInline, string nativeWait)
    {
        var transport = new IicTransportOptions
        {
            HypervisorName = hypervisor,
            SocketDirectory = socketDirectory,
            ChannelOptions = IicTransportOptions.DefaultChannelOptions with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(wait) },
        };
        switch (path)
        {
            case "native-iic":
                var native = GrpcServiceChannel.ForAddress($"iic://{PerfServer.NativeService}", new GrpcServiceChannelOptions
                {
                    Native = { Transport = transport, ChannelOptions = IIC.Transport.ChannelOptions.Default with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(nativeWait) }, InlineCompletions = nativeInline },
                });
                return (native.CallInvoker, native);
            case "http2-iic":
                Http2IicSetup.Apply(transport, client: true);
                return Http(new Uri($"http://{PerfServer.Http2Service}"), IicHttpHandler.Create(PerfServer.Http2Service, transport));
            case "http2-tcp":
                return Http(tcp, new SocketsHttpHandler());
            case "http2-uds":
                return Http(new Uri("http://localhost"), new SocketsHttpHandler { ConnectCallback = (_, ct) => ConnectUnixAsync(unixSocket, ct) });
            default:
                throw new ArgumentOutOfRangeException(nameof(path), path, "One of " + string.Join(", ", All));
        }
    }

    private static (CallInvoker, IDisposable) Http(Uri address, HttpMessageHandler handler)
    {
        var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        return (channel.CreateCallInvoker(), channel);
    }

    private static async ValueTask<Stream> ConnectUnixAsync(string path, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
