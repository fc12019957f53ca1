using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// Accepts channels for a service this partition offers through its hypervisor (like a listening socket).
/// Dispose stops offering the service; channels already accepted keep working.
/// </summary>
public sealed class IicListener : IDisposable
{
    private readonly ServiceListener _listener;
    private readonly ChannelOptions _options;

    private IicListener(ServiceListener listener, ChannelOptions options)
    {
        _listener = listener;
        _options = options;
    }

    /// <summary>The service.</summary>
    public string Service => _listener.Service;

    /// <summary>Offers <paramref name="service"/> through <paramref name="partition"/>'s hypervisor.</summary>
    /// <exception cref="HypervisorException">The service is already offered, the policy forbids it, or the hypervisor is gone.</exception>
    public static IicListener Listen(Partition partition, string service, ChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(partition);
        options ??= ChannelOptions.Default;
        if (options.Name == ChannelOptions.Default.Name)
        {
            options = options with { Name = service };
        }
        return new IicListener(partition.Listen(service, options.Grouped), options);
    }

    /// <summary>Waits for the next connection.</summary>
    /// <param name="timeout">Zero or positive; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit.</param>
    /// <exception cref="TimeoutException">None arrived in time.</exception>
    /// <exception cref="HypervisorException">The hypervisor went away.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    public IicChannel Accept(TimeSpan timeout)
    {
        return IicChannel.FromGrant(_listener.Accept(timeout), _options); // refuses a negative timeout, saturates a huge one
    }

    /// <summary>Waits asynchronously for the next connection.</summary>
    /// <exception cref="HypervisorException">The hypervisor went away.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public async ValueTask<IicChannel> AcceptAsync(CancellationToken cancellationToken = default)
        => IicChannel.FromGrant(await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false), _options);

    /// <summary>Stops offering the service.</summary>
    public void Dispose() => _listener.Dispose();
}
