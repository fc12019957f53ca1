using System.Collections.Concurrent;
using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// This process as a partition of a hypervisor: attached by name over the control socket, it offers services
/// (<see cref="Listen"/>) and connects to them (<see cref="Connect"/>), receiving a sealed window for each
/// connection. A background thread reads the hypervisor's replies and notifications (a caller waiting in Connect
/// or Accept reads them itself meanwhile: PartitionReading.cs; ConnectAsync's answer completes its task, whoever
/// reads it: PartitionRequests.cs). No call blocks on a hypervisor that stops reading: what its socket does not take
/// waits in a bounded send queue (PartitionSending.cs). If the hypervisor goes
/// away, existing connections keep working; new requests fail with a clear <see cref="HypervisorException"/>.
/// Thread safe.
/// </summary>
public sealed partial class Partition : IDisposable
{
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(10);

    private readonly SeqPacketSocket _socket;
    private readonly Thread _reader;
    private readonly object _sendLock = new();
    private readonly byte[] _sendBuffer = new byte[ControlProtocol.MaxMessageSize];
    private readonly Dictionary<uint, PendingRequest> _requests = []; // under _requestsLock: reuses its entries, no node per request
    private readonly Lock _requestsLock = new();
    private readonly ConcurrentDictionary<string, ServiceListener> _listeners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, byte> _deathsReported = new();
    private readonly ReceiveGroupPages _groupPages = new();
    private int _nextRequestId;
    private volatile string? _lostReason;
    private int _disposed;
    private int _counted;
    private int _openGrants; // grants not yet released: the control socket stays open for them after Dispose
    private int _controlClosed;

    private Partition(string hypervisorName, string name, SeqPacketSocket socket)
    {
        HypervisorName = hypervisorName;
        Name = name;
        _socket = socket;
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"IIC partition '{name}'" };
    }

    private static int s_live;

    /// <summary>This partition's name.</summary>
    public string Name { get; }

    /// <summary>Partitions attached and not yet disposed in this process (for the <c>iic.partitions.active</c> metric).</summary>
    public static int LiveCount => Volatile.Read(ref s_live);

    /// <summary>The hypervisor's name.</summary>
    public string HypervisorName { get; }

    /// <summary>The id the hypervisor gave this partition.</summary>
    public uint Id { get; private set; }

    /// <summary>The hypervisor's process id.</summary>
    public int HypervisorProcessId { get; private set; }

    /// <summary>False once the hypervisor hung up (then only existing connections work).</summary>
    public bool IsHypervisorConnected => _lostReason is null;

    /// <summary>
    /// Raised when the peer of one of our connections died, on a thread-pool thread (so a handler may connect, listen
    /// or accept; handlers for different deaths may run concurrently).
    /// </summary>
    public event EventHandler<PeerDiedEventArgs>? PeerDied;

    /// <summary>Attaches to hypervisor <paramref name="hypervisorName"/> as <paramref name="partitionName"/>.</summary>
    /// <param name="hypervisorName">The hypervisor's name.</param>
    /// <param name="partitionName">This partition's name (policies may name it).</param>
    /// <param name="socketDirectory">Where the hypervisor's socket is, if not the default.</param>
    /// <exception cref="ArgumentException">A name is not valid.</exception>
    /// <exception cref="HypervisorException">The hypervisor is not running, or refused this partition (the message says why),
    /// or did not answer within 10 s (or did not even read the request: it is not reading its control socket), or a
    /// thread of the partition could not be started (<see cref="ControlError.ResourceExhausted"/>: out of memory or threads).</exception>
    public static Partition Attach(string hypervisorName, string partitionName, string? socketDirectory = null)
    {
        var partition = Open(hypervisorName, partitionName, socketDirectory);
        try
        {
            return partition.Attached(partition.Request(ControlMessageType.Attach, partitionName, s_writeName, Deadline.After(s_requestTimeout)));
        }
        catch
        {
            partition.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Attaches asynchronously (see <see cref="Attach"/>): the control socket is connected and the Attach sent on the
    /// calling thread (a unix socket's connect completes at once unless the hypervisor's listen backlog is full), and the
    /// answer is awaited without a thread, like <see cref="ConnectAsync"/>'s.
    /// </summary>
    /// <inheritdoc cref="Attach" path="/param"/>
    /// <inheritdoc cref="Attach" path="/exception"/>
    public static async Task<Partition> AttachAsync(string hypervisorName, string partitionName, string? socketDirectory = null)
    {
        var partition = Open(hypervisorName, partitionName, socketDirectory);
        try
        {
            return partition.Attached(await partition.RequestAsync(ControlMessageType.Attach, partitionName, s_writeName, Deadline.After(s_requestTimeout), CancellationToken.None).ConfigureAwait(false));
        }
        catch
        {
            partition.Dispose();
            throw;
        }
    }

    private static readonly ControlBody<string> s_writeName = static (ref ControlWriter w, string name) => w.WriteString(name);

    /// <summary>Connects the control socket to the hypervisor (refusing one another user serves) and starts its reader; Attach is not sent yet.</summary>
    private static Partition Open(string hypervisorName, string partitionName, string? socketDirectory)
    {
        HypervisorPaths.ValidateHypervisorName(hypervisorName, nameof(hypervisorName));
        ControlProtocol.ValidateName(partitionName, nameof(partitionName));
        var path = HypervisorPaths.SocketPath(hypervisorName, socketDirectory, nameof(hypervisorName));
        var socket = SeqPacketSocket.Create();
        try
        {
            socket.Connect(path);
        }
        catch (Exception e) when (e is NativeException or ArgumentException)
        {
            socket.Dispose();
            throw new HypervisorException($"Hypervisor '{hypervisorName}' is not running (cannot connect to {path}: {e.Message}). Start it with Hypervisor.Start(\"{hypervisorName}\") or `iic hypervisor --name {hypervisorName}`.", e);
        }
        // Attach only to a hypervisor run by this user or by root: a socket another user planted would otherwise
        // receive our requests and hand us windows it controls.
        var server = socket.GetPeerCredentials();
        if (server.Uid != Credentials.EffectiveUserId && server.Uid != 0)
        {
            socket.Dispose();
            throw new HypervisorException(string.Create(CultureInfo.InvariantCulture,
                $"The socket {path} is served by uid {server.Uid} (pid {server.Pid}), neither this user (uid {Credentials.EffectiveUserId}) nor root; refusing to attach to a hypervisor another user runs."));
        }
        var partition = new Partition(hypervisorName, partitionName, socket);
        partition.CreateReadingKicks();
        partition.StartThreads();
        return partition;
    }

    /// <summary>Takes the Attach's answer: this partition's id, the hypervisor's pid; counts it live.</summary>
    private Partition Attached(Reply reply)
    {
        Id = reply.PartitionId;
        HypervisorProcessId = reply.PeerProcessId;
        _counted = 1;
        Interlocked.Increment(ref s_live);
        return this;
    }

    /// <summary>Offers <paramref name="service"/>; connections arrive on the returned listener.</summary>
    /// <param name="service">The service name.</param>
    /// <param name="grouped">Accepted connections receive through group pages (one per peer partition), so one thread waits on all of them (IIC.Transport's <c>IicChannelGroup</c>).</param>
    /// <param name="backlog">How many connections may be granted to the listener and not yet accepted, like listen(2)'s backlog
    /// (1 to 65536; default <see cref="ServiceListener.DefaultBacklog"/>). Further connectors wait, within their timeouts; if the
    /// application accepts none for the hypervisor's <c>AcceptStallTimeout</c> they are refused with <see cref="ControlError.NotAccepting"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="backlog"/> is not within 1 to 65536.</exception>
    /// <exception cref="HypervisorException">The service is already offered, the policy forbids it, the hypervisor is gone, or it
    /// did not answer within 10 s (or did not even read the request: it is not reading its control socket).</exception>
    /// <exception cref="ObjectDisposedException">The partition was disposed, before the call or while it waited for the answer.</exception>
    public ServiceListener Listen(string service, bool grouped = false, int backlog = ServiceListener.DefaultBacklog)
    {
        ControlProtocol.ValidateName(service, nameof(service));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(backlog, nameof(backlog));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(backlog, ControlProtocol.MaxListenBacklog, nameof(backlog));
        var listener = new ServiceListener(this, service, backlog);
        if (!_listeners.TryAdd(service, listener))
        {
            throw new HypervisorException(ControlError.DuplicateService, $"This partition already listens on '{service}'.");
        }
        try
        {
            Request(ControlMessageType.Listen, (service, grouped, (uint)backlog), static (ref ControlWriter w, (string Service, bool Grouped, uint Backlog) request) =>
            {
                w.WriteString(request.Service);
                w.WriteUInt32(request.Grouped ? 1u : 0u);
                w.WriteUInt32(request.Backlog);
            }, Deadline.After(s_requestTimeout));
            return listener;
        }
        catch
        {
            // Also withdraws a Listen the hypervisor may still take (this partition was disposed while it waited, or the
            // answer is late); the hypervisor ignores it for a service another partition offers.
            Unlisten(listener);
            throw;
        }
    }

    /// <summary>
    /// Connects to <paramref name="service"/>, waiting up to <paramref name="timeout"/> for a partition to offer it.
    /// </summary>
    /// <param name="service">The service.</param>
    /// <param name="ringCapacity">Bytes per direction (a power of two within the hypervisor's limit).</param>
    /// <param name="timeout">How long the whole call may take, also against a hypervisor that does not answer or does not even read
    /// its control socket (the request then waits in the partition's send queue and is withdrawn; default 5 s;
    /// zero fails at once if the service is not offered, a timeout under 0.5 s still gives the hypervisor 0.5 s to
    /// answer; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit).</param>
    /// <param name="grouped">The connection receives through the group page this partition shares with the listening partition alone.</param>
    /// <param name="cancellationToken">Gives up waiting (for the service, or for its busy listener to accept): the hypervisor forgets the connect.</param>
    /// <exception cref="HypervisorException">Unknown service, policy denial, a refused ring size, a listener that is stopped
    /// or stayed too busy (<see cref="ControlError.NotAccepting"/>), the hypervisor is gone, or the timeout passed (the
    /// message says whether the hypervisor did not answer or did not even read the request: it is not reading its control socket).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The partition was disposed, before the call or while it waited (the hypervisor forgets the connect).</exception>
    /// <exception cref="ArgumentException">The service name or ring capacity is not valid, or the timeout is negative.</exception>
    public GrantedConnection Connect(string service, int ringCapacity = WindowOptions.DefaultRingCapacity, TimeSpan? timeout = null, bool grouped = false, CancellationToken cancellationToken = default)
    {
        ConnectTrace.Mark(ConnectStep.ConnectCall);
        var request = ConnectRequest.Create(service, ringCapacity, timeout, grouped);
        return Connected(service, Request(ControlMessageType.Connect, request, ConnectRequest.Write, request.Deadline, cancellationToken));
    }

    /// <summary>
    /// Connects asynchronously, holding no thread while the hypervisor waits for the service or its busy listener: the
    /// request is sent on the calling thread (never waiting: while the hypervisor does not read its control socket, it
    /// waits in the partition's send queue), and the partition's reader completes the returned task when the answer
    /// comes (its continuations run on the pool). The same timeout, token and exceptions as <see cref="Connect"/>, all
    /// (argument errors included) reported through the task.
    /// </summary>
    /// <inheritdoc cref="Connect" path="/param"/>
    /// <inheritdoc cref="Connect" path="/exception"/>
    public async Task<GrantedConnection> ConnectAsync(string service, int ringCapacity = WindowOptions.DefaultRingCapacity, TimeSpan? timeout = null, bool grouped = false, CancellationToken cancellationToken = default)
    {
        ConnectTrace.Mark(ConnectStep.ConnectCall);
        var request = ConnectRequest.Create(service, ringCapacity, timeout, grouped);
        return Connected(service, await RequestAsync(ControlMessageType.Connect, request, ConnectRequest.Write, request.Deadline, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The connection a Connect's answer granted, named after its service.</summary>
    private GrantedConnection Connected(string service, Reply reply)
    {
        var connection = reply.Connection ?? throw new HypervisorException($"The hypervisor answered the connect to '{service}' without a window.");
        connection.Service = service; // a Granted reply carries no service name; channels, metrics and iic stat need it
        IicEventSource.Log.PartitionConnected(Name, service, connection.Id, connection.PeerProcessId);
        ConnectTrace.Mark(ConnectStep.ConnectReturn);
        return connection;
    }

    /// <summary>
    /// Detaches: stops its listeners and refuses new requests. Connections already made (channels) keep working until
    /// they are disposed: the control socket, whose closing the hypervisor takes for this partition's death, closes
    /// when the last of them is released (at once if there are none; at process exit in any case).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (Interlocked.Exchange(ref _counted, 0) != 0)
        {
            Interlocked.Decrement(ref s_live);
        }
        FailWaitingRequestsOnDispose();
        foreach (var listener in _listeners.Values)
        {
            listener.Dispose(); // unlistens while the socket is still open
        }
        if (Volatile.Read(ref _openGrants) == 0)
        {
            CloseControl();
        }
    }

    /// <summary>Tells the hypervisor a grant is released; after Dispose, the last release closes the control socket.</summary>
    /// <param name="connectionId">The grant.</param>
    /// <param name="counted">False for a grant refused before it became a <see cref="GrantedConnection"/>.</param>
    internal void Release(long connectionId, bool counted = true)
    {
        _groupPages.Release(connectionId);
        if (_lostReason is null && Volatile.Read(ref _controlClosed) == 0)
        {
            TrySend(ControlMessageType.Release, 0, connectionId, static (ref ControlWriter w, long id) => w.WriteInt64(id));
        }
        if (counted && Interlocked.Decrement(ref _openGrants) == 0 && Volatile.Read(ref _disposed) != 0)
        {
            CloseControl();
        }
    }

    /// <summary>The group (pair page) <paramref name="page"/> belongs to, if this partition receives through it; null otherwise.</summary>
    internal InterruptGroup? FindReceiveGroup(InterruptPage page) => _groupPages.Find(page);

    /// <summary>Tells the hypervisor the application took <paramref name="count"/> more connections of <paramref name="service"/> (its backlog credit).</summary>
    internal void ReportAccepted(string service, uint count)
    {
        if (_lostReason is null && Volatile.Read(ref _controlClosed) == 0)
        {
            TrySend(ControlMessageType.Accepted, 0, (service, count), static (ref ControlWriter w, (string Service, uint Count) state) =>
            {
                w.WriteString(state.Service);
                w.WriteUInt32(state.Count);
            });
        }
    }

    internal void Unlisten(ServiceListener listener)
    {
        if (_listeners.TryRemove(new KeyValuePair<string, ServiceListener>(listener.Service, listener)) && _lostReason is null && Volatile.Read(ref _controlClosed) == 0)
        {
            TrySend(ControlMessageType.Unlisten, 0, listener.Service, static (ref ControlWriter w, string service) => w.WriteString(service));
        }
    }

    private void Lose(string reason)
    {
        if (_lostReason is not null)
        {
            return;
        }
        _lostReason = reason;
        try
        {
            // Hang up so the hypervisor detaches us too: a partition that cannot read its socket must not stay in its books.
            ShutdownSocket();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Already closed, or out of descriptors to even load the code: the reader's exit hangs up anyway.
        }
        ClearQueued(); // never sent now: the hypervisor's detach of this partition frees what they asked for
        var error = new HypervisorException($"Hypervisor '{HypervisorName}' is gone: {reason}. Existing connections keep working; restart the hypervisor and attach again for new ones.");
        KeyValuePair<uint, PendingRequest>[] waiting;
        lock (_requestsLock)
        {
            waiting = [.. _requests];
            _requests.Clear();
        }
        foreach (var (id, request) in waiting)
        {
            request.TryFail(id, error);
        }
        foreach (var listener in _listeners.Values)
        {
            listener.Fail(error);
        }
    }

    private void ThrowIfLost()
    {
        if (_lostReason is { } reason)
        {
            throw new HypervisorException($"Hypervisor '{HypervisorName}' is gone: {reason}. Existing connections keep working; restart the hypervisor and attach again for new ones.");
        }
    }
}
