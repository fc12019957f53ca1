using System.Threading.Channels;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The connections arriving for one service this partition offers, at most <see cref="Backlog"/> of them granted and
/// not yet accepted (the hypervisor holds further connectors back, within their timeouts). Dispose stops offering it
/// and releases the connections not accepted.
/// </summary>
public sealed class ServiceListener : IDisposable
{
    /// <summary>The backlog of a listener whose creator names none, as a TCP server's listen(2) backlog is often 64.</summary>
    public const int DefaultBacklog = 64;

    /// <summary>The largest backlog a listener may ask for.</summary>
    public const int MaxBacklog = ControlProtocol.MaxListenBacklog;

    private readonly Partition _partition;
    private readonly object _creditLock = new();
    private readonly int _creditBatch; // taken connections reported in one Accepted message while the backlog is far from full
    private long _received; // connections the hypervisor granted us (Incoming read), accepted or not
    private long _taken; // connections accepted, or dropped before being accepted
    private long _reported; // connections reported taken to the hypervisor (under _creditLock)
    // Unbounded here because the hypervisor bounds it: it grants at most Backlog connections beyond those reported taken
    // (and a full channel could only drop grants the hypervisor already counted).
    private readonly Channel<GrantedConnection> _incoming = Channel.CreateUnbounded<GrantedConnection>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly SemaphoreSlim _arrivals = new(0); // released per delivery and at completion: sync Accept's direct wake-up
    private int _disposed;

    internal ServiceListener(Partition partition, string service, int backlog)
    {
        _partition = partition;
        Service = service;
        Backlog = backlog;
        _creditBatch = Math.Max(1, backlog / 2);
    }

    /// <summary>The service.</summary>
    public string Service { get; }

    /// <summary>How many connections may be granted to this listener and not yet accepted (its listen backlog).</summary>
    public int Backlog { get; }

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
                Taken();
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
            var read = _partition.ReadUntil(static listener => listener.HasArrivalOrEnd, this, deadline, Partition.AcceptSpinTicks);
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
            var connection = await _incoming.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Taken();
            return connection;
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
        Interlocked.Increment(ref _received);
        if (_incoming.Writer.TryWrite(connection))
        {
            _arrivals.Release(); // a sync Accept (an AcceptAsync may take the connection first: the Accept then waits again)
            ReportTaken(); // a backlog the hypervisor may see full, with accepts not reported yet, is reported now
        }
        else
        {
            connection.Dispose(); // disposed: the Unlisten it sent clears the hypervisor's count
        }
    }

    /// <summary>A granted connection refused before it was queued (its window was invalid): taken off the backlog.</summary>
    internal void Dropped()
    {
        Interlocked.Increment(ref _received);
        Taken();
    }

    /// <summary>One connection left the backlog (accepted or dropped).</summary>
    private void Taken()
    {
        Interlocked.Increment(ref _taken);
        ReportTaken();
    }

    /// <summary>
    /// Reports the connections taken since the last report (an Accepted message, the hypervisor's backlog credit) once
    /// half a backlog accumulated, or at once when the hypervisor may be holding connectors back for us: it counts
    /// granted - reported, at least received - reported, and holds connectors back only when that reaches the backlog.
    /// So a listener keeping up sends one message per half backlog, and a full backlog is refilled connection by
    /// connection. Both counters are incremented before this reads the other (Interlocked: full fences), so of an Accept
    /// and a delivery that race, at least one sees both and reports.
    /// </summary>
    private void ReportTaken()
    {
        var reported = Volatile.Read(ref _reported);
        var unreported = Volatile.Read(ref _taken) - reported;
        if (unreported <= 0 || (unreported < _creditBatch && Volatile.Read(ref _received) - reported < Backlog))
        {
            return;
        }
        lock (_creditLock)
        {
            unreported = _taken - _reported;
            if (unreported <= 0 || _disposed != 0)
            {
                return; // another thread reported them; or disposed: its Unlisten clears the count
            }
            _reported += unreported;
            _partition.ReportAccepted(Service, (uint)Math.Min(unreported, uint.MaxValue));
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
