using System.Collections.Concurrent;
using IIC.AspNetCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace IIC.Grpc;

/// <summary>
/// The container's channels for the clients registered with <see cref="IicGrpcClientServiceCollectionExtensions"/>: one
/// <see cref="GrpcServiceChannel"/> per client name, made on first use and shared by every client of that name (a channel
/// is a pool of connections, made to be long-lived), disposed with the container (calls in flight then end
/// <c>Unavailable</c> on the native path, as when a GrpcChannel is disposed).
/// </summary>
internal sealed class GrpcClientChannels(IOptionsMonitor<IicGrpcClientFactoryOptions> options, IServiceProvider services) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<GrpcServiceChannel>> _channels = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>The channel for <paramref name="name"/>, made now if it is the first use.</summary>
    /// <exception cref="InvalidOperationException">No address is set nor configured for the name (the message says how to set one).</exception>
    /// <exception cref="FormatException">The address is neither <c>iic://SERVICE</c> nor <c>http(s)://HOST:PORT</c>.</exception>
    /// <exception cref="ObjectDisposedException">The container was disposed.</exception>
    public GrpcServiceChannel Get(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed), this);
        var lazy = _channels.GetOrAdd(name, static (key, self) => new Lazy<GrpcServiceChannel>(() => self.Create(key)), this);
        try
        {
            return lazy.Value;
        }
        catch
        {
            _channels.TryRemove(KeyValuePair.Create(name, lazy)); // a bad address is not cached: fixed configuration works next time
            throw;
        }
    }

    private GrpcServiceChannel Create(string name)
    {
        var settings = options.Get(name);
        var address = settings.Address is { } text
            ? IicServiceAddress.Parse(text)
            : services.GetService<IConfiguration>() is { } configuration && configuration[$"{IicServiceAddress.ServicesSection}:{name}"] is not null
                ? IicServiceAddress.FromConfiguration(configuration, name)
                : throw new InvalidOperationException($"The gRPC client '{name}' has no address: set IicGrpcClientFactoryOptions.Address in AddIicGrpcClient (iic://SERVICE for the native path on this machine, or http(s)://HOST:PORT), or configure {IicServiceAddress.ServicesSection}:{name}.");
        return GrpcServiceChannel.ForAddress(address, settings.Channel);
    }

    /// <summary>The interceptors of <paramref name="name"/>, made for one client.</summary>
    public IReadOnlyList<Func<IServiceProvider, global::Grpc.Core.Interceptors.Interceptor>> Interceptors(string name) => options.Get(name).Interceptors;

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        foreach (var lazy in _channels.Values)
        {
            if (lazy.IsValueCreated)
            {
                lazy.Value.Dispose();
            }
        }
        _channels.Clear();
    }
}
