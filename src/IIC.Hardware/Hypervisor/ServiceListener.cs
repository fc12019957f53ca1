using System.Threading.Channels;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>The connections arriving for one service this partition offers. Dispose stops offering it.</summary>
public sealed class ServiceListener : IDisposable
{
    private readonly Partition _partition;
    private readonly Channel<GrantedConnection> _incoming = Channel.CreateUnbounded<GrantedConnection>(new UnboundedChannelOptions { SingleWriter = true });
    private int _disposed;

    internal ServiceListener(Partition partition, string service)
    {
        _partition = partition;
        Service = service;
    }

    /// <summary>The service.</summary>
    public string Service { get; }

    /// <summary>Waits for the next connection.</summary>
    /// <exception cref="TimeoutException">None arrived within <paramref name="timeout"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    /// <exception cref="HypervisorException">The hypervisor went away (no more connections can arrive).</exception>
    /// <exception cref="ObjectDisposedException">The listener was disposed.</exception>
    public GrantedConnection Accept(TimeSpan timeout)
    {
        Deadline.ThrowIfNegative(timeout, nameof(timeout));
        // A timer takes at most ~24.8 days: anything longer (TimeSpan.MaxValue) means no limit.
        using var cancellation = new CancellationTokenSource(timeout.TotalMilliseconds >= int.MaxValue - 1 ? Timeout.InfiniteTimeSpan : timeout);
        try
        {
            return AcceptAsync(cancellation.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw new TimeoutException($"No connection to service '{Service}' arrived within {timeout.TotalSeconds:0.###} s.");
        }
    }

    /// <summary>Waits asynchronously for the next connection.</summary>
    /// <exception cref="HypervisorException">The hypervisor went away.</exception>
    /// <exception cref="ObjectDisposedException">The listener was disposed.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public async ValueTask<GrantedConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            return await _incoming.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (System.Threading.Channels.ChannelClosedException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(ServiceListener), $"The listener for '{Service}' was disposed.");
        }
    }

    internal void Deliver(GrantedConnection connection)
    {
        if (!_incoming.Writer.TryWrite(connection))
        {
            connection.Dispose();
        }
    }

    internal void Fail(Exception error) => _incoming.Writer.TryComplete(error);

    /// <summary>Stops offering the service; connections not yet accepted are released.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _incoming.Writer.TryComplete();
        while (_incoming.Reader.TryRead(out var connection))
        {
            connection.Dispose();
        }
        _partition.Unlisten(this);
    }
}
