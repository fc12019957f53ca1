using IIC.Hardware;
using IIC.Native;

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
    /// <exception cref="ArgumentOutOfRangeException"><see cref="ChannelOptions.ListenBacklog"/> is outside 1 to 65536 (nothing is offered).</exception>
    public static IicListener Listen(Partition partition, string service, ChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(partition);
        options ??= ChannelOptions.Default;
        if (options.ListenBacklog is < 1 or > ServiceListener.MaxBacklog)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ListenBacklog, $"ChannelOptions.ListenBacklog must be 1 to {ServiceListener.MaxBacklog}: the connections granted to this listener beyond those it accepted (default {ServiceListener.DefaultBacklog}).");
        }
        if (options.Name == ChannelOptions.Default.Name)
        {
            options = options with { Name = service };
        }
        return new IicListener(partition.Listen(service, options.Grouped, options.ListenBacklog), options);
    }

    /// <summary>Waits for the next connection.</summary>
    /// <param name="timeout">Zero or positive; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit.</param>
    /// <exception cref="TimeoutException">None arrived in time.</exception>
    /// <exception cref="HypervisorException">The hypervisor went away.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    /// <exception cref="InsufficientMemoryException"><see cref="ChannelOptions.PreTouch"/> could not commit the connection's window (the connection is released; the listener stays usable).</exception>
    public IicChannel Accept(TimeSpan timeout)
    {
        var deadline = Deadline.After(timeout, nameof(timeout)); // refuses a negative timeout, saturates a huge one
        while (true)
        {
            if (TryOpen(_listener.Accept(deadline.Remaining), out var channel))
            {
                ConnectTrace.Mark(ConnectStep.AcceptReturn);
                return channel;
            }
        }
    }

    /// <summary>Waits asynchronously for the next connection.</summary>
    /// <exception cref="HypervisorException">The hypervisor went away.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    /// <exception cref="InsufficientMemoryException"><see cref="ChannelOptions.PreTouch"/> could not commit the connection's window (the connection is released; the listener stays usable).</exception>
    public async ValueTask<IicChannel> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryOpen(await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false), out var channel))
            {
                return channel;
            }
        }
    }

    /// <summary>
    /// Opens an accepted grant; a connection whose window its connector already corrupted is traced, released and
    /// skipped (issue 12: one bad connector never fails a listener), and Accept waits for the next one.
    /// </summary>
    private bool TryOpen(GrantedConnection connection, out IicChannel channel)
    {
        try
        {
            channel = IicChannel.FromGrant(connection, _options);
            return true;
        }
        catch (Exception e) when (e is RingFaultException or InvalidDataException)
        {
            IicEventSource.Log.ProtocolFault(Service, connection.PeerProcessId, "refused an accepted connection: " + e.Message);
            channel = null!;
            return false;
        }
    }

    /// <summary>Stops offering the service.</summary>
    public void Dispose() => _listener.Dispose();
}
