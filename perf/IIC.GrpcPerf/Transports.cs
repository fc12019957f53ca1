using System.Net.Sockets;
using IIC.AspNetCore;

namespace IIC.GrpcPerf;

/// <summary>The three ways the client reaches the one server: address and handler for each.</summary>
internal static class Transports
{
    public static (Uri Address, HttpMessageHandler Handler) Iic(string hypervisor, string socketDirectory, string wait)
        => (new Uri("http://greeter"), IicHttpHandler.Create("greeter", new IicTransportOptions
        {
            HypervisorName = hypervisor,
            SocketDirectory = socketDirectory,
            ChannelOptions = IIC.Transport.ChannelOptions.Default with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(wait) },
        }));

    public static (Uri Address, HttpMessageHandler Handler) Tcp(Uri address) => (address, new SocketsHttpHandler());

    public static (Uri Address, HttpMessageHandler Handler) Unix(string path) => (new Uri("http://localhost"), new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellationToken) =>
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
        },
    });
}
