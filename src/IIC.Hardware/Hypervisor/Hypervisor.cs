using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The broker that grants shared-memory windows between partitions (processes). It listens on a Unix
/// SOCK_SEQPACKET socket in a 0700 directory, knows each partition by SO_PEERCRED and a pidfd, applies its
/// policy, and for every connection creates one sealed window and hands it to both sides over SCM_RIGHTS.
/// When a partition dies (pidfd readable or socket hang-up) it marks that side of every window dead with a
/// new epoch, wakes the survivors and releases the grants. One thread runs the event loop (poll); it
/// survives any malformed input by disconnecting the sender. Runs embedded (<see cref="Start"/>) or as
/// <c>iic hypervisor</c>.
/// </summary>
public sealed partial class Hypervisor : IDisposable
{
    private readonly HypervisorOptions _options;
    private readonly SeqPacketSocket _listener;
    private readonly EventFd _wakeup;
    private readonly Thread _thread;
    private readonly uint _ownUid = Credentials.EffectiveUserId;
    private readonly List<ControlClient> _clients = [];
    private readonly Dictionary<string, ControlClient> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<long, GrantRecord> _grants = [];
    private readonly List<PendingConnect> _pending = [];
    private readonly byte[] _receiveBuffer = new byte[ControlProtocol.MaxMessageSize];
    private readonly byte[] _sendBuffer = new byte[ControlProtocol.MaxMessageSize];
    private readonly List<FileDescriptor> _receivedDescriptors = [];
    private volatile bool _stopping;
    private int _partitionCount;
    private int _grantCount;
    private uint _nextPartitionId;
    private long _nextConnectionId;
    private int _disposed;

    private Hypervisor(string name, string socketPath, HypervisorOptions options, SeqPacketSocket listener)
    {
        Name = name;
        SocketPath = socketPath;
        _options = options;
        _listener = listener;
        _wakeup = new EventFd();
        _thread = new Thread(Run) { IsBackground = true, Name = $"IIC hypervisor '{name}'" };
    }

    /// <summary>The hypervisor's name (partitions attach by it).</summary>
    public string Name { get; }

    /// <summary>The control socket's path.</summary>
    public string SocketPath { get; }

    /// <summary>Partitions attached now.</summary>
    public int PartitionCount => Volatile.Read(ref _partitionCount);

    /// <summary>Live grants (connections) now.</summary>
    public int GrantCount => Volatile.Read(ref _grantCount);

    /// <summary>
    /// Starts a hypervisor in this process. A stale socket left by a dead hypervisor is replaced; a live one
    /// makes this fail.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    /// <exception cref="InvalidOperationException">A hypervisor with this name is already running.</exception>
    /// <exception cref="UnauthorizedAccessException">The socket directory is not private (0700).</exception>
    public static Hypervisor Start(string name, HypervisorOptions? options = null)
    {
        options ??= new HypervisorOptions();
        var directory = options.SocketDirectory ?? HypervisorPaths.DefaultDirectory;
        var path = HypervisorPaths.SocketPath(name, directory);
        HypervisorPaths.EnsurePrivateDirectory(directory);
        RemoveStaleSocket(path, name);
        var listener = SeqPacketSocket.Create();
        try
        {
            listener.Bind(path);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        var hypervisor = new Hypervisor(name, path, options, listener);
        hypervisor._thread.Start();
        IicEventSource.Log.HypervisorStarted(name, path, Environment.ProcessId);
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
        _thread.Join(TimeSpan.FromSeconds(10));
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
}
