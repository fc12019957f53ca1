using System.Threading.Channels;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>The connections arriving for one service this partition offers. Dispose stops offering it.</summary>
public sealed class ServiceListener : IDisposable
{
    private readonly Partition _partition;
    private readonly Channel<GrantedConnection> _incoming = Channel.CreateUnbounded<GrantedConnection>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly SemaphoreSlim _arrivals = new(0); // released per delivery and at completion: sync Accept's direct wake-up
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
        var deadline = Deadline.After(timeout, nameof(timeout)); // refuses a negative timeout, saturates a huge one
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_incoming.Reader.TryRead(out var connection))
            {
                return connection;
            }
            if (_incoming.Reader.Completion.IsCompleted)
            {
                _arrivals.Release(); // pass the wake on to the next waiter
                throw _incoming.Reader.Completion.Exception?.InnerException
                    ?? new ObjectDisposedException(nameof(ServiceListener), $"The listener for '{Service}' was disposed.");
            }
            var remaining = deadline.Remaining;
            if (remaining == Timeout.InfiniteTimeSpan || remaining > TimeSpan.FromHours(1))
            {
                remaining = TimeSpan.FromHours(1); // SemaphoreSlim takes at most ~24.8 days: wait in slices
            }
            // Read the control socket on this thread if no other caller does (the grant then wakes this thread
            // itself); otherwise woken directly by whoever reads it (Deliver): no thread hop on the accept path.
            var read = _partition.ReadUntil(static listener => listener.HasArrivalOrEnd, this, deadline);
            if (read == Partition.CallerRead.Done)
            {
                continue;
            }
            if ((read == Partition.CallerRead.TimedOut || !_arrivals.Wait(remaining)) && deadline.HasPassed)
            {
                throw new TimeoutException($"No connection to service '{Service}' arrived within {timeout.TotalSeconds:0.###} s.");
            }
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

    private bool HasArrivalOrEnd => _disposed != 0 || _incoming.Reader.Count > 0 || _incoming.Reader.Completion.IsCompleted;

    internal void Deliver(GrantedConnection connection)
    {
        if (_incoming.Writer.TryWrite(connection))
        {
            _arrivals.Release(); // a sync Accept (an AcceptAsync may take the connection first: the Accept then waits again)
        }
        else
        {
            connection.Dispose();
        }
    }

    internal void Fail(Exception error)
    {
        _incoming.Writer.TryComplete(error);
        _arrivals.Release(); // each sync Accept that sees the completion passes the wake on
        _partition.KickReadingCaller(); // an Accept reading the socket itself sees it too
    }

    /// <summary>Stops offering the service; connections not yet accepted are released.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _incoming.Writer.TryComplete();
        _arrivals.Release();
        _partition.KickReadingCaller();
        while (_incoming.Reader.TryRead(out var connection))
        {
            connection.Dispose();
        }
        _partition.Unlisten(this);
    }
}
