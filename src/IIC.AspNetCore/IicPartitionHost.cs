using System.Collections.Concurrent;
using IIC.Hardware;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IIC.AspNetCore;

/// <summary>
/// This process's partitions: attached on first use (one per hypervisor name), and the embedded hypervisor when
/// <see cref="IicTransportOptions.StartHypervisor"/> asks for one. Disposing detaches them and stops that hypervisor.
/// The Kestrel transport keeps one in the service container; <see cref="Shared"/> serves clients that name no host.
/// </summary>
public sealed class IicPartitionHost : IDisposable
{
    private static readonly ConcurrentDictionary<(string Hypervisor, string? Directory), IicPartitionHost> s_shared = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Partition> _partitions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<Partition>> _attaching = new(StringComparer.Ordinal); // under _lock: one attach per name at a time
    private Hypervisor? _hypervisor;
    private bool _disposed;

    /// <summary>A host for <paramref name="options"/>; nothing is attached until <see cref="GetPartition"/>.</summary>
    public IicPartitionHost(IicTransportOptions options)
        : this(options, null)
    {
    }

    /// <summary>
    /// A host for <paramref name="options"/> that logs attaching, re-attaching and the embedded hypervisor to
    /// <paramref name="logger"/> (null: no log); nothing is attached until <see cref="GetPartition"/>.
    /// </summary>
    public IicPartitionHost(IicTransportOptions options, ILogger? logger)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        Logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Where this host and the Kestrel transport log (category <c>IIC.AspNetCore</c> when built by <c>UseIicTransport</c> (<see cref="IicWebHostBuilderExtensions"/>)).</summary>
    public ILogger Logger { get; }

    /// <summary>The options.</summary>
    public IicTransportOptions Options { get; }

    /// <summary>The embedded hypervisor, once started (null when this process attaches to another's).</summary>
    public Hypervisor? Hypervisor => _hypervisor;

    /// <summary>
    /// A process-wide host per hypervisor name and socket directory, for clients (it lives as long as the process;
    /// a partition whose hypervisor went away is attached again on next use). Never starts a hypervisor.
    /// </summary>
    public static IicPartitionHost Shared(IicTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return s_shared.GetOrAdd((options.HypervisorName, options.SocketDirectory), static (key, o) => new IicPartitionHost(new IicTransportOptions
        {
            HypervisorName = key.Hypervisor,
            SocketDirectory = key.Directory,
            PartitionName = $"client-{Environment.ProcessId}",
            ChannelOptions = o.ChannelOptions,
            ConnectTimeout = o.ConnectTimeout,
        }), options);
    }

    /// <summary>
    /// This process's partition on <paramref name="hypervisorName"/> (default <see cref="IicTransportOptions.HypervisorName"/>),
    /// attaching it (and starting the embedded hypervisor, if configured) on first use.
    /// </summary>
    /// <exception cref="HypervisorException">The hypervisor is not running or refused the partition.</exception>
    /// <exception cref="ObjectDisposedException">The host was disposed.</exception>
    public Partition GetPartition(string? hypervisorName = null)
    {
        var name = hypervisorName ?? Options.HypervisorName;
        Task<Partition>? attaching;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_partitions.TryGetValue(name, out var partition) && partition.IsHypervisorConnected)
            {
                return partition;
            }
            if (!_attaching.TryGetValue(name, out attaching))
            {
                return AttachLocked(name, partition);
            }
        }
        // An asynchronous attach of the same name is under way: its result is this call's too (one attach at a time).
        return attaching.GetAwaiter().GetResult();
    }

    /// <summary>
    /// <see cref="GetPartition"/> without holding a thread while the hypervisor answers (Partition.AttachAsync): the
    /// attached partition at once when there is one; else one attach per hypervisor name, shared by every caller that
    /// comes meanwhile, awaited without a thread. Before round 19 only the blocking call existed, and the connects that
    /// needed a partition (native gRPC's pool, the HTTP handler's ConnectCallback) each held a pool thread on it, for up to
    /// the hypervisor's answer timeout (10 s) when the hypervisor was stopped or overloaded.
    /// </summary>
    /// <param name="hypervisorName">The hypervisor (default <see cref="IicTransportOptions.HypervisorName"/>).</param>
    /// <param name="cancellationToken">Ends this caller's wait (<see cref="OperationCanceledException"/>); the shared attach goes on for the others.</param>
    /// <exception cref="HypervisorException">The hypervisor is not running or refused the partition.</exception>
    /// <exception cref="ObjectDisposedException">The host was disposed (also while the attach was under way).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public ValueTask<Partition> GetPartitionAsync(string? hypervisorName = null, CancellationToken cancellationToken = default)
    {
        var name = hypervisorName ?? Options.HypervisorName;
        Task<Partition>? attaching;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_partitions.TryGetValue(name, out var partition) && partition.IsHypervisorConnected)
            {
                return ValueTask.FromResult(partition);
            }
            if (!_attaching.TryGetValue(name, out attaching))
            {
                // Run on the pool: its synchronous part (the embedded hypervisor's start, the socket's connect, the Attach's
                // send) takes this lock and must not run under the caller's hold of it.
                attaching = Task.Run(() => AttachAsync(name), CancellationToken.None);
                _attaching[name] = attaching;
            }
        }
        return new ValueTask<Partition>(attaching.WaitAsync(cancellationToken));
    }

    /// <summary>The shared asynchronous attach of <paramref name="name"/> (see <see cref="GetPartitionAsync"/>).</summary>
    private async Task<Partition> AttachAsync(string name)
    {
        Partition? stale = null;
        try
        {
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_partitions.Remove(name, out stale))
                {
                    IicLog.PartitionReattaching(Logger, Options.EffectivePartitionName, name);
                }
                StartHypervisorLocked(name);
            }
            stale?.Dispose();
            var partition = await Partition.AttachAsync(name, Options.EffectivePartitionName, Options.SocketDirectory).ConfigureAwait(false);
            lock (_lock)
            {
                _attaching.Remove(name);
                if (_disposed)
                {
                    partition.Dispose(); // the host went away while the hypervisor answered: nobody else would detach it
                    throw new ObjectDisposedException(nameof(IicPartitionHost));
                }
                _partitions[name] = partition;
            }
            IicLog.PartitionAttached(Logger, Options.EffectivePartitionName, name);
            return partition;
        }
        catch (Exception e) when (e is not ObjectDisposedException)
        {
            bool disposed;
            lock (_lock)
            {
                _attaching.Remove(name); // the next caller tries again
                disposed = _disposed;
            }
            IicLog.AttachFailed(Logger, e, Options.EffectivePartitionName, name);
            if (disposed)
            {
                // The host ended while the hypervisor answered (or failed to): its callers learn that, as any call after it.
                throw new ObjectDisposedException(nameof(IicPartitionHost), e);
            }
            throw;
        }
        catch (ObjectDisposedException)
        {
            lock (_lock)
            {
                _attaching.Remove(name);
            }
            throw;
        }
    }

    /// <summary>Starts the embedded hypervisor if the options ask for one and it is <paramref name="name"/>'s. Under <see cref="_lock"/>.</summary>
    private void StartHypervisorLocked(string name)
    {
        if (Options.StartHypervisor && name == Options.HypervisorName && _hypervisor is null)
        {
            // The host's logger goes into the embedded hypervisor: its grants, refusals and deaths reach the
            // application's ILogger too.
            _hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = Options.SocketDirectory, Logger = Logger, NonDumpable = Options.HypervisorNonDumpable });
            IicLog.HypervisorStarted(Logger, name, Options.SocketDirectory ?? "(default)");
        }
    }

    /// <summary>The blocking attach of <paramref name="name"/>, replacing <paramref name="partition"/> (one that lost its hypervisor, or null). Under <see cref="_lock"/>.</summary>
    private Partition AttachLocked(string name, Partition? partition)
    {
        if (partition is not null)
        {
            IicLog.PartitionReattaching(Logger, Options.EffectivePartitionName, name);
            partition.Dispose();
        }
        try
        {
            StartHypervisorLocked(name);
            partition = Partition.Attach(name, Options.EffectivePartitionName, Options.SocketDirectory);
        }
        catch (Exception e)
        {
            IicLog.AttachFailed(Logger, e, Options.EffectivePartitionName, name);
            throw;
        }
        IicLog.PartitionAttached(Logger, Options.EffectivePartitionName, name);
        _partitions[name] = partition;
        return partition;
    }

    /// <summary>Detaches every partition and stops the embedded hypervisor.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            foreach (var partition in _partitions.Values)
            {
                partition.Dispose();
            }
            _partitions.Clear();
            _hypervisor?.Dispose();
            _hypervisor = null;
        }
    }
}
