using System.Collections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace IIC.AspNetCore;

/// <summary>
/// The server with its listening addresses as IICFast clients write them: Kestrel names an endpoint it does not know
/// <c>{scheme}://{endpoint}</c>, so an <see cref="IicEndPoint"/> would show as <c>http://iic://greeter</c> in "Now listening
/// on" and <see cref="IServerAddressesFeature"/>; through this decorator it is <c>iic://greeter</c>. Everything else is
/// the inner server's.
/// </summary>
internal sealed class IicServerAddressesServer : IServer
{
    private readonly IServer _inner;
    private readonly FeatureCollection _features;

    public IicServerAddressesServer(IServer inner)
    {
        _inner = inner;
        _features = new FeatureCollection(inner.Features);
        if (inner.Features.Get<IServerAddressesFeature>() is { } addresses)
        {
            _features.Set<IServerAddressesFeature>(new AddressesFeature(addresses));
        }
    }

    public IFeatureCollection Features => _features;

    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull
        => _inner.StartAsync(application, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _inner.StopAsync(cancellationToken);

    public void Dispose() => _inner.Dispose();

    /// <summary><c>http://iic://greeter</c> (or https) as <c>iic://greeter</c>; any other address unchanged.</summary>
    internal static string Display(string address)
    {
        var separator = address.IndexOf("://", StringComparison.Ordinal);
        return separator > 0 && address.AsSpan(separator + 3).StartsWith(IicEndPoint.Scheme + "://", StringComparison.Ordinal)
            ? address[(separator + 3)..]
            : address;
    }

    private sealed class AddressesFeature(IServerAddressesFeature inner) : IServerAddressesFeature
    {
        public ICollection<string> Addresses { get; } = new DisplayedAddresses(inner.Addresses);

        public bool PreferHostingUrls
        {
            get => inner.PreferHostingUrls;
            set => inner.PreferHostingUrls = value;
        }
    }

    /// <summary>A live view of the server's addresses: reads show IICFast addresses as clients write them; writes go through.</summary>
    private sealed class DisplayedAddresses(ICollection<string> inner) : ICollection<string>
    {
        public int Count => inner.Count;

        public bool IsReadOnly => inner.IsReadOnly;

        public void Add(string item) => inner.Add(item);

        public void Clear() => inner.Clear();

        public bool Contains(string item) => inner.Contains(item) || inner.Any(a => Display(a) == item);

        public void CopyTo(string[] array, int arrayIndex)
        {
            ArgumentNullException.ThrowIfNull(array);
            foreach (var address in this)
            {
                array[arrayIndex++] = address;
            }
        }

        public bool Remove(string item) => inner.Remove(item) || (inner.FirstOrDefault(a => Display(a) == item) is { } raw && inner.Remove(raw));

        public IEnumerator<string> GetEnumerator() => inner.Select(Display).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
