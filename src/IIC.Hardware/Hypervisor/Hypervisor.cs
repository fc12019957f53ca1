using IIC.Native;
using Microsoft.Extensions.Logging;

namespace IIC.Hardware;

/// <summary>
/// The broker that grants shared-memory windows between partitions (processes). It listens on a Unix
/// SOCK_SEQPACKET socket in a 0700 directory, knows each partition by SO_PEERCRED and a pidfd, applies its
/// policy and quotas, and for every connection creates one sealed window and hands it to both sides over
/// SCM_RIGHTS, each with a pidfd of its peer so each side detects its peer's death by itself. When a partition
/// dies or is detached it marks that side of every window dead, wakes the survivors and releases the grants.
/// One thread runs the event loop (poll); it never blocks on a partition (replies are queued, bounded, and a
/// partition that does not read is detached) and it survives malformed input and resource exhaustion by refusing
/// the one request. Runs embedded (<see cref="Start"/>) or as <c>iic hypervisor</c>.
/// </summary>
public sealed partial class Hypervisor : IDisposable
{
    private readonly HypervisorOptions _options;
    private readonly WindowPool _windowPool;
    private readonly HypervisorHelper _helper;
    private readonly SeqPacketSocket _listener;
    private readonly EventFd _wakeup;
    private readonly Thread _thread;
    private readonly AdmissionPolicy _policy;
    private readonly QuotaLedger _ledger;
    private readonly GrantTable _grants;
    private readonly PendingConnects _pending;
    private volatile bool _stopping;
    private int _partitionCount;
    private int _grantCount;
    private int _disposed;

    private Hypervisor(string name, string socketPath, HypervisorOptions options, SeqPacketSocket listener)
    {
        Name = name;
        SocketPath = socketPath;
        _options = options;
        _windowPool = new WindowPool(options.WindowPoolSize);
        _listener = listener;
        _wakeup = new EventFd();
        _spare = new EventFd();
        _policy = new AdmissionPolicy(options, Credentials.EffectiveUserId);
        _ledger = new QuotaLedger(options);
        _pending = new PendingConnects(_ledger);
        _thread = new Thread(Run) { IsBackground = true, Name = $"IIC hypervisor '{name}'" };
        // Last: it starts a thread (unmapping released windows and refilling the pool off the event loop).
        _helper = new HypervisorHelper(_windowPool, name, Log, HypervisorHelper.EnabledByEnvironment);
        _grants = new GrantTable(_ledger, _pairGroups, _helper);
    }

    /// <summary>The hypervisor's name (partitions attach by it).</summary>
    public string Name { get; }

    /// <summary>The control socket's path.</summary>
    public string SocketPath { get; }

    /// <summary>Partitions attached now.</summary>
    public int PartitionCount => Volatile.Read(ref _partitionCount);

    /// <summary>Live grants (connections) now.</summary>
    public int GrantCount => Volatile.Read(ref _grantCount);

    /// <summary>The thread that unmaps released windows and refills the pool off the event loop (tests).</summary>
    internal HypervisorHelper Helper => _helper;

    /// <summary>Connects waiting now: for their service to be offered, or for its busy listener to read its accept queue.</summary>
    public int PendingConnectCount => _pending.Count;

    /// <summary>
    /// Starts a hypervisor in this process. A stale socket left by a dead hypervisor is replaced; a live one
    /// makes this fail.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A limit in <paramref name="options"/> is not positive.</exception>
    /// <exception cref="InvalidOperationException">A hypervisor with this name is already running.</exception>
    /// <exception cref="UnauthorizedAccessException">The socket directory is not private (0700).</exception>
    public static Hypervisor Start(string name, HypervisorOptions? options = null)
    {
        options ??= new HypervisorOptions();
        options.Validate();
        var directory = options.SocketDirectory ?? HypervisorPaths.DefaultDirectory;
        var path = HypervisorPaths.SocketPath(name, directory);
        HypervisorPaths.EnsurePrivateDirectory(directory);
        RemoveStaleSocket(path, name);
        if (options.NonDumpable)
        {
            NonDumpableScope.Enter(); // before the first window exists: /proc/PID/fd is closed to same-uid processes
        }
        var listener = SeqPacketSocket.Create();
        try
        {
            listener.Bind(path);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            if (options.NonDumpable)
            {
                NonDumpableScope.Leave();
            }
            throw;
        }
        var hypervisor = new Hypervisor(name, path, options, listener);
        hypervisor._thread.Start();
        IicEventSource.Log.HypervisorStarted(name, path, Environment.ProcessId);
        if (options.Logger is { } logger)
        {
            HypervisorLog.Started(logger, name, path);
        }
        hypervisor.Log($"hypervisor '{name}' listening on {path}");
        return hypervisor;
    }

    /// <summary>Stops the event loop, disconnects every partition (existing windows keep working) and removes the socket.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping = true;
        _wakeup.Signal();
        var stopped = _thread.Join(TimeSpan.FromSeconds(10));
        if (stopped && _options.NonDumpable)
        {
            NonDumpableScope.Leave(); // every window it held is closed (the loop detached every partition on its way out)
        }
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
            // Already gone or replaced: nothing to clean up.
        }
        _listener.Dispose();
        _wakeup.Dispose();
        _spare?.Dispose();
    }

    private static void RemoveStaleSocket(string path, string name)
    {
        if (!File.Exists(path))
        {
            return;
        }
        using var probe = SeqPacketSocket.Create();
        try
        {
            probe.Connect(path);
        }
        catch (NativeException e) when (e.ErrnoName is "ECONNREFUSED" or "ENOENT")
        {
            File.Delete(path); // left behind by a hypervisor that died
            return;
        }
        throw new InvalidOperationException($"A hypervisor named '{name}' is already running at {path}; stop it or choose another name.");
    }

    private void Log(string line) => _options.Log?.Invoke(line);

    private ILogger? Logger => _options.Logger;
}
