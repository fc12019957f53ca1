using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using IIC.AspNetCore;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.GrpcPerf;

/// <summary>
/// The transport floor under the gRPC numbers: 32-byte async round trips over the bare byte stream (no HTTP/2, no gRPC),
/// with the same ReadAsync/WriteAsync a HTTP/2 connection uses: an IICFast channel's Stream and a TCP loopback socket,
/// between the same two processes. gRPC p50 minus this p50 is what the HTTP/2 and gRPC stacks cost.
/// </summary>
internal static class RawEcho
{
    /// <summary>Server side: echoes every connection of the IICFast service "echo" and of a TCP listener; returns the TCP port.</summary>
    public static int Serve(Partition partition, ChannelOptions options)
    {
        var listener = IicListener.Listen(partition, "echo", options);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var channel = await listener.AcceptAsync();
                _ = EchoAsync(channel.AsStream());
            }
        });
        var tcp = new TcpListener(IPAddress.Loopback, 0);
        tcp.Start();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var socket = await tcp.AcceptSocketAsync();
                socket.NoDelay = true;
                _ = EchoAsync(new NetworkStream(socket, ownsSocket: true));
            }
        });
        return ((IPEndPoint)tcp.LocalEndpoint).Port;
    }

    private static async Task EchoAsync(Stream stream)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, read));
            }
        }
        catch (IOException)
        {
            // the client went away (an IicChannelClosedException is an IOException too)
        }
        await stream.DisposeAsync();
    }

    public static async Task<Stream> ConnectIicAsync(string hypervisor, string directory, ChannelOptions options)
    {
        var host = IicPartitionHost.Shared(new IicTransportOptions { HypervisorName = hypervisor, SocketDirectory = directory });
        var channel = await IicChannel.ConnectAsync(host.GetPartition(), "echo", options);
        return channel.AsStream();
    }

    public static async Task<Stream> ConnectTcpAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Sequential 32-byte round trips: the latency of each in µs, sorted.</summary>
    public static async Task<double[]> RoundTripsAsync(Stream stream, int warmup, int count)
    {
        var message = new byte[32];
        var reply = new byte[32];
        var samples = new double[count];
        for (var i = -warmup; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await stream.WriteAsync(message);
            var got = 0;
            while (got < reply.Length)
            {
                got += await stream.ReadAsync(reply.AsMemory(got));
            }
            if (i >= 0)
            {
                samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            }
        }
        Array.Sort(samples);
        return samples;
    }
}
