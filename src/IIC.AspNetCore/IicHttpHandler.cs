using System.Net;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.AspNetCore;

/// <summary>
/// The client side: a <see cref="SocketsHttpHandler"/> whose connections are IICFast channels to one service, so
/// <see cref="HttpClient"/> and <c>GrpcChannel.ForAddress("http://greeter", new() { HttpHandler = handler })</c> speak
/// HTTP/2 through shared memory. The host in the request URI does not matter: every connection goes to the service.
/// <para>HTTP/2 over a plain channel is "prior knowledge" h2c: requests must say version 2.0 with
/// <see cref="HttpVersionPolicy.RequestVersionExact"/> (GrpcChannel does so itself; <see cref="CreateClient(string, IicTransportOptions?)"/>
/// sets it as the client's default), otherwise SocketsHttpHandler would speak HTTP/1.1.</para>
/// </summary>
public static class IicHttpHandler
{
    /// <summary>
    /// A handler connecting to <paramref name="service"/> through this process's shared client partition for
    /// <paramref name="options"/>' hypervisor (<see cref="IicPartitionHost.Shared"/>).
    /// </summary>
    /// <param name="service">The service name.</param>
    /// <param name="options">Hypervisor, socket directory, channel options and connect timeout; null means the defaults.</param>
    public static SocketsHttpHandler Create(string service, IicTransportOptions? options = null)
    {
        options ??= new IicTransportOptions();
        var host = IicPartitionHost.Shared(options);
        return Create(service, cancellationToken => host.GetPartitionAsync(options.HypervisorName, cancellationToken), options.ChannelOptions, options.ConnectTimeout, options.EffectivePipeOptions);
    }

    /// <summary>A handler connecting to <paramref name="service"/> through <paramref name="partition"/> (the caller keeps it alive).</summary>
    /// <param name="service">The service name.</param>
    /// <param name="partition">An attached partition.</param>
    /// <param name="channelOptions">The channels' ring size and wait strategy; null means <see cref="IicTransportOptions.DefaultChannelOptions"/>.</param>
    /// <param name="connectTimeout">How long to wait for the service to be offered (default 5 s).</param>
    public static SocketsHttpHandler Create(string service, Partition partition, ChannelOptions? channelOptions = null, TimeSpan? connectTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(partition);
        return Create(service, _ => ValueTask.FromResult(partition), channelOptions ?? IicTransportOptions.DefaultChannelOptions, connectTimeout ?? TimeSpan.FromSeconds(5), IicPipeOptions.Default);
    }

    /// <summary>
    /// An <see cref="HttpClient"/> for <paramref name="service"/>: base address <c>http://service/</c>, HTTP/2 only
    /// (version 2.0, <see cref="HttpVersionPolicy.RequestVersionExact"/>), over <see cref="Create(string, IicTransportOptions?)"/>.
    /// </summary>
    public static HttpClient CreateClient(string service, IicTransportOptions? options = null)
        => new(Create(service, options), disposeHandler: true)
        {
            BaseAddress = new Uri($"http://{service}/"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

    private static SocketsHttpHandler Create(string service, Func<CancellationToken, ValueTask<Partition>> partition, ChannelOptions channelOptions, TimeSpan connectTimeout, IicPipeOptions pipeOptions)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        return new SocketsHttpHandler
        {
            // One HTTP/2 connection carries many concurrent streams; allow more when a client opens more than the server's stream limit.
            EnableMultipleHttp2Connections = true,
            ConnectCallback = async (_, cancellationToken) =>
            {
                // The partition is attached on first use without holding a thread (IicPartitionHost.GetPartitionAsync).
                var channel = await IicChannel.ConnectAsync(await partition(cancellationToken).ConfigureAwait(false), service, channelOptions, connectTimeout, cancellationToken).ConfigureAwait(false);
                try
                {
                    // The shared duplex pipe: its receive thread feeds SocketsHttpHandler's frame loop (no async wait per read).
                    return new DuplexPipeStream(new IicDuplexPipe(channel, pipeOptions, "IIC receive http " + service).Start());
                }
                catch
                {
                    channel.Dispose();
                    throw;
                }
            },
        };
    }
}
