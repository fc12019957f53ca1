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
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_partitions.TryGetValue(name, out var partition) && partition.IsHypervisorConnected)
            {
                return partition;
            }
            if (partition is not null)
            {
                IicLog.PartitionReattaching(Logger, Options.EffectivePartitionName, name);
                partition.Dispose();
            }
            try
            {
                if (Options.StartHypervisor && name == Options.HypervisorName && _hypervisor is null)
                {
                    // The host's logger goes into the embedded hypervisor: its grants, refusals and deaths reach the
                    // application's ILogger too.
                    _hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = Options.SocketDirectory, Logger = Logger, NonDumpable = Options.HypervisorNonDumpable });
                    IicLog.HypervisorStarted(Logger, name, Options.SocketDirectory ?? "(default)");
                }
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
