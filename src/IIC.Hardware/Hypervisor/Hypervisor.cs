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
public sealed class Hypervisor : IDisposable
{
    private readonly HypervisorOptions _options;
    private readonly SeqPacketSocket _listener;
    private readonly EventFd _wakeup;
    private readonly Thread _thread;
    private readonly uint _ownUid = Credentials.EffectiveUserId;
    private readonly List<Client> _clients = [];
    private readonly Dictionary<string, Client> _services = new(StringComparer.Ordinal);
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

    private void Run()
    {
        var entries = new List<PollEntry>();
        while (!_stopping)
        {
            entries.Clear();
            entries.Add(new PollEntry(_wakeup.Descriptor, PollEvents.Readable));
            entries.Add(new PollEntry(_listener.Descriptor, PollEvents.Readable));
            var polled = _clients.ToArray(); // the clients in the order polled; handlers may add or remove clients
            foreach (var client in polled)
            {
                entries.Add(new PollEntry(client.Socket.Descriptor, PollEvents.Readable));
                entries.Add(new PollEntry(client.Process.Descriptor, PollEvents.Readable));
            }
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(entries);
            try
            {
                Poll.Wait(span, NextTimeout());
            }
            catch (NativeException e)
            {
                Log($"poll failed: {e.Message}");
                continue;
            }
            if (_stopping)
            {
                break;
            }
            for (var i = 0; i < polled.Length; i++)
            {
                var client = polled[i];
                if (!_clients.Contains(client))
                {
                    continue;
                }
                var socketEvents = span[2 + (2 * i)].ReturnedEvents;
                var processEvents = span[3 + (2 * i)].ReturnedEvents;
                if (socketEvents != 0)
                {
                    ServeClient(client);
                }
                else if ((processEvents & PollEvents.Readable) != 0 && _clients.Contains(client))
                {
                    Disconnect(client, "its process exited", died: true);
                }
            }
            if ((span[1].ReturnedEvents & PollEvents.Readable) != 0)
            {
                AcceptClient();
            }
            ExpirePendingConnects();
        }
        foreach (var client in _clients.ToArray())
        {
            Disconnect(client, "the hypervisor stopped", died: false);
        }
    }

    private TimeSpan NextTimeout()
    {
        if (_pending.Count == 0)
        {
            return TimeSpan.FromSeconds(1);
        }
        var next = _pending.Min(p => p.Deadline);
        var ticks = Math.Max(0, next - Stopwatch.GetTimestamp());
        return TimeSpan.FromSeconds(Math.Min(1.0, (double)ticks / Stopwatch.Frequency));
    }

    private void AcceptClient()
    {
        if (!_listener.TryAccept(TimeSpan.Zero, out var socket))
        {
            return;
        }
        try
        {
            var credentials = socket.GetPeerCredentials();
            var process = PeerProcess.Open(socket, credentials); // SO_PEERPIDFD: valid across pid namespaces
            _clients.Add(new Client(socket, process, credentials));
        }
        catch (Exception e) when (e is NativeException or InvalidOperationException)
        {
            Log($"dropped a connection whose process could not be identified: {e.Message}");
            socket.Dispose();
        }
    }

    private void ServeClient(Client client)
    {
        int received;
        _receivedDescriptors.Clear();
        try
        {
            if (!client.Socket.TryReceive(_receiveBuffer, _receivedDescriptors, TimeSpan.Zero, out received))
            {
                return; // spurious readiness
            }
        }
        catch (Exception e) when (e is IOException or NativeException)
        {
            Disconnect(client, $"its control message was unreadable ({e.Message})", died: false);
            return;
        }
        if (received == 0)
        {
            Disconnect(client, client.Process.HasExited ? "its process exited" : "it hung up", died: true);
            return;
        }
        try
        {
            Handle(client, _receiveBuffer.AsSpan(0, received));
        }
        catch (InvalidDataException e)
        {
            IicEventSource.Log.ProtocolFault(client.Name ?? "(unattached)", client.Credentials.Pid, e.Message);
            TrySendError(client, 0, ControlError.BadMessage, e.Message);
            Disconnect(client, $"it sent a malformed message: {e.Message}", died: true);
        }
        catch (Exception e) when (e is IOException or NativeException)
        {
            Disconnect(client, $"a reply could not be sent ({e.Message})", died: true);
        }
#pragma warning disable CA1031 // The event loop must outlive any one partition: a bug serving one client disconnects it, never the hypervisor.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            Log($"internal error serving partition '{client.Name}' (pid {client.Credentials.Pid}); disconnecting it: {e}");
            IicEventSource.Log.ProtocolFault(client.Name ?? "(unattached)", client.Credentials.Pid, "internal error: " + e.Message);
            Disconnect(client, "internal error: " + e.Message, died: true);
        }
        finally
        {
            DisposeReceived(); // descriptors a handler kept were removed from the list
        }
    }

    private void DisposeReceived()
    {
        foreach (var descriptor in _receivedDescriptors)
        {
            descriptor.Dispose();
        }
        _receivedDescriptors.Clear();
    }

    private void Handle(Client client, ReadOnlySpan<byte> message)
    {
        var reader = new ControlReader(message);
        if (!client.Attached && reader.Type != ControlMessageType.Attach)
        {
            throw new InvalidDataException($"A {reader.Type} message arrived before Attach.");
        }
        if (_receivedDescriptors.Count > (reader.Type == ControlMessageType.Attach ? 1 : 0))
        {
            throw new InvalidDataException($"A {reader.Type} message carried {_receivedDescriptors.Count} descriptors; only Attach carries one (the partition's interrupt group).");
        }
        switch (reader.Type)
        {
            case ControlMessageType.Attach:
                HandleAttach(client, ref reader);
                break;
            case ControlMessageType.Listen:
                HandleListen(client, ref reader);
                break;
            case ControlMessageType.Unlisten:
                HandleUnlisten(client, ref reader);
                break;
            case ControlMessageType.Connect:
                HandleConnect(client, ref reader);
                break;
            case ControlMessageType.Release:
                HandleRelease(client, ref reader);
                break;
            default:
                throw new InvalidDataException($"Message type {(ushort)reader.Type} is not a request.");
        }
    }

    private void HandleAttach(Client client, ref ControlReader reader)
    {
        var name = reader.ReadString(ControlProtocol.MaxNameLength);
        reader.EnsureEnd();
        if (client.Attached)
        {
            throw new InvalidDataException("Attach was sent twice.");
        }
        try
        {
            ControlProtocol.ValidateName(name, "name");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        var allowed = _options.AllowedUids.Count == 0 ? UserNamespace.IsSameUser(client.Credentials.Uid, _ownUid) : _options.AllowedUids.Contains(client.Credentials.Uid);
        if (!allowed)
        {
            Deny(client, reader.RequestId, $"partition '{name}' (pid {client.Credentials.Pid}, uid {client.Credentials.Uid}) is not allowed: this hypervisor admits only uid {(_options.AllowedUids.Count == 0 ? _ownUid.ToString(CultureInfo.InvariantCulture) : string.Join(",", _options.AllowedUids))}");
            Disconnect(client, "refused by policy", died: false);
            return;
        }
        if (PartitionCount >= _options.MaxPartitions)
        {
            TrySendError(client, reader.RequestId, ControlError.LimitExceeded, $"the hypervisor already has {_options.MaxPartitions} partitions attached");
            Disconnect(client, "too many partitions", died: false);
            return;
        }
        if (_receivedDescriptors.Count == 1)
        {
            var descriptor = _receivedDescriptors[0];
            _receivedDescriptors.Clear();
            try
            {
                client.Group = InterruptGroup.Open(descriptor); // validated: sealed, sized, formatted
            }
            catch (InvalidDataException)
            {
                descriptor.Dispose();
                throw;
            }
        }
        client.Name = name;
        client.Id = ++_nextPartitionId;
        client.Attached = true;
        Interlocked.Increment(ref _partitionCount);
        var writer = new ControlWriter(_sendBuffer, ControlMessageType.Attached, reader.RequestId);
        writer.WriteUInt32(client.Id);
        writer.WriteUInt32((uint)Environment.ProcessId);
        client.Socket.Send(writer.Finish());
        IicEventSource.Log.PartitionAttached(name, client.Credentials.Pid, (int)client.Credentials.Uid);
        Log($"attached partition '{name}' (pid {client.Credentials.Pid}, uid {client.Credentials.Uid})");
    }

    private void HandleListen(Client client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        var grouped = ReadGroupedFlag(client, ref reader);
        reader.EnsureEnd();
        if (!MayUse(client, service))
        {
            Deny(client, reader.RequestId, $"partition '{client.Name}' may not offer service '{service}'");
            return;
        }
        if (_services.TryGetValue(service, out var owner))
        {
            TrySendError(client, reader.RequestId, ControlError.DuplicateService, $"service '{service}' is already offered by partition '{owner.Name}' (pid {owner.Credentials.Pid})");
            return;
        }
        _services[service] = client;
        client.Services.Add(service);
        client.GroupedServices[service] = grouped;
        client.Socket.Send(new ControlWriter(_sendBuffer, ControlMessageType.Listening, reader.RequestId).Finish());
        IicEventSource.Log.ServiceListening(service, client.Name!, client.Credentials.Pid);
        Log($"partition '{client.Name}' offers '{service}'");
        foreach (var pending in _pending.Where(p => p.Service == service).ToArray())
        {
            if (!_services.ContainsKey(service) || !_pending.Remove(pending))
            {
                continue; // a failed grant disconnected the listener, or this connector with its other pending connects
            }
            Grant(pending.Client, pending.RequestId, service, pending.RingCapacity, pending.Grouped);
        }
    }

    private void HandleUnlisten(Client client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        reader.EnsureEnd();
        if (_services.TryGetValue(service, out var owner) && owner == client)
        {
            _services.Remove(service);
            client.Services.Remove(service);
        }
    }

    private void HandleConnect(Client client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        var capacity = reader.ReadUInt32();
        var timeoutMs = reader.ReadUInt32();
        var grouped = ReadGroupedFlag(client, ref reader);
        reader.EnsureEnd();
        if (capacity < DescriptorRing.MinCapacity || capacity > (uint)_options.MaxRingCapacity || !BitOperations.IsPow2(capacity))
        {
            TrySendError(client, reader.RequestId, ControlError.LimitExceeded, $"a ring of {capacity} bytes is not allowed: use a power of two from {DescriptorRing.MinCapacity} to {_options.MaxRingCapacity}");
            return;
        }
        if (!MayUse(client, service))
        {
            Deny(client, reader.RequestId, $"partition '{client.Name}' may not connect to service '{service}'");
            return;
        }
        if (_services.ContainsKey(service))
        {
            Grant(client, reader.RequestId, service, (int)capacity, grouped);
        }
        else if (timeoutMs > 0)
        {
            _pending.Add(new PendingConnect(client, reader.RequestId, service, (int)capacity, grouped,
                Stopwatch.GetTimestamp() + (long)(Math.Min(timeoutMs, 600_000u) / 1000.0 * Stopwatch.Frequency)));
        }
        else
        {
            TrySendError(client, reader.RequestId, ControlError.UnknownService, $"no partition offers service '{service}'; start its server first (or connect with a timeout to wait for it)");
        }
    }

    private void HandleRelease(Client client, ref ControlReader reader)
    {
        var id = reader.ReadInt64();
        reader.EnsureEnd();
        if (!_grants.TryGetValue(id, out var grant))
        {
            return; // already released (e.g. the peer died first)
        }
        if (grant.Listener == client)
        {
            grant.ListenerReleased = true;
        }
        else if (grant.Connector == client)
        {
            grant.ConnectorReleased = true;
        }
        if (grant.ListenerReleased && grant.ConnectorReleased)
        {
            RemoveGrant(grant);
        }
    }

    private void Grant(Client connector, uint requestId, string service, int capacity, bool connectorGrouped)
    {
        var listener = _services[service];
        var listenerGrouped = listener.GroupedServices.GetValueOrDefault(service);
        if (connector.GrantCount >= _options.MaxGrantsPerPartition || listener.GrantCount >= _options.MaxGrantsPerPartition
            || (listenerGrouped && listener.FreeVectors.Count == 0 && listener.NextVector >= InterruptPage.MaxVectorCount)
            || (connectorGrouped && connector.FreeVectors.Count == 0 && connector.NextVector >= InterruptPage.MaxVectorCount))
        {
            TrySendError(connector, requestId, ControlError.LimitExceeded, $"a partition may hold at most {_options.MaxGrantsPerPartition} connections, {InterruptPage.MaxVectorCount} of them grouped");
            return;
        }
        var id = ++_nextConnectionId;
        int? listenerVector = listenerGrouped ? listener.TakeVector() : null;
        int? connectorVector = connectorGrouped ? connector.TakeVector() : null;
        var window = SharedWindow.Create(
            WindowOptions.WithCapacity(capacity) with { GroupVector0 = listenerVector, GroupVector1 = connectorVector },
            $"iic-{service}-{id}");
        var grant = new GrantRecord(id, window, service, listener, connector) { ListenerVector = listenerVector, ConnectorVector = connectorVector };
        _grants[id] = grant;
        listener.GrantCount++;
        connector.GrantCount++;
        Interlocked.Increment(ref _grantCount);
        try
        {
            var incoming = new ControlWriter(_sendBuffer, ControlMessageType.Incoming, 0);
            incoming.WriteInt64(id);
            incoming.WriteUInt32(0);
            incoming.WriteUInt32((uint)connector.Credentials.Pid);
            incoming.WriteString(service);
            incoming.WriteString(connector.Name!);
            SendWithWindow(listener.Socket, incoming.Finish(), window, connectorGrouped ? connector.Group : null);
        }
        catch (Exception e) when (e is IOException or NativeException)
        {
            TrySendError(connector, requestId, ControlError.UnknownService, $"the partition offering '{service}' is gone");
            Disconnect(listener, $"a grant could not be sent ({e.Message})", died: true);
            return;
        }
        var connected = new ControlWriter(_sendBuffer, ControlMessageType.Connected, requestId);
        connected.WriteInt64(id);
        connected.WriteUInt32(1);
        connected.WriteUInt32((uint)listener.Credentials.Pid);
        connected.WriteString(listener.Name!);
        try
        {
            SendWithWindow(connector.Socket, connected.Finish(), window, listenerGrouped ? listener.Group : null);
        }
        catch (Exception e) when (e is IOException or NativeException)
        {
            // The connector may not be the client being served (a pending connect granted on Listen): drop it, not the caller.
            Disconnect(connector, $"a grant could not be sent ({e.Message})", died: true);
            return;
        }
        IicEventSource.Log.ConnectionGranted(service, id, listener.Credentials.Pid, connector.Credentials.Pid);
        Log($"granted connection {id} to '{service}': '{connector.Name}' (pid {connector.Credentials.Pid}) -> '{listener.Name}' (pid {listener.Credentials.Pid}), {capacity} bytes per ring");
    }

    /// <summary>Sends a grant: the window, and the peer's interrupt group when the peer receives through one.</summary>
    private static void SendWithWindow(SeqPacketSocket socket, ReadOnlySpan<byte> message, SharedWindow window, InterruptGroup? peerGroup)
    {
        if (peerGroup is null)
        {
            socket.Send(message, window.File);
        }
        else
        {
            socket.Send(message, window.File, peerGroup.File);
        }
    }

    private static bool ReadGroupedFlag(Client client, ref ControlReader reader)
    {
        // Optional trailing flags (absent in the oldest v1 clients): bit 0 = receive through the partition's group.
        var flags = reader.Remaining >= 4 ? reader.ReadUInt32() : 0;
        if ((flags & ~1u) != 0)
        {
            throw new InvalidDataException($"Unknown request flags 0x{flags:x}.");
        }
        var grouped = (flags & 1) != 0;
        if (grouped && client.Group is null)
        {
            throw new InvalidDataException("A grouped request from a partition that attached without an interrupt group.");
        }
        return grouped;
    }

    private void Disconnect(Client client, string reason, bool died)
    {
        if (!_clients.Remove(client))
        {
            return;
        }
        if (client.Attached)
        {
            Interlocked.Decrement(ref _partitionCount);
            IicEventSource.Log.PartitionDetached(client.Name!, client.Credentials.Pid, reason);
            Log($"partition '{client.Name}' (pid {client.Credentials.Pid}) left: {reason}");
        }
        foreach (var service in client.Services)
        {
            _services.Remove(service);
        }
        client.GroupedServices.Clear();
        _pending.RemoveAll(p => p.Client == client);
        foreach (var grant in _grants.Values.Where(g => g.Listener == client || g.Connector == client).ToArray())
        {
            var side = grant.Listener == client ? 0 : 1;
            var survivor = side == 0 ? grant.Connector : grant.Listener;
            var survivorReleased = side == 0 ? grant.ConnectorReleased : grant.ListenerReleased;
            if (!_stopping)
            {
                // Wakes the survivor; a side that closed cleanly stays Closed (end of stream, not death).
                grant.Window.MarkDead(side);
                IicEventSource.Log.PeerDied(grant.Service, client.Credentials.Pid);
                if (!survivorReleased && _clients.Contains(survivor))
                {
                    var notice = new ControlWriter(_sendBuffer, ControlMessageType.PeerDied, 0);
                    notice.WriteInt64(grant.Id);
                    notice.WriteUInt32((uint)client.Credentials.Pid);
                    try
                    {
                        survivor.Socket.Send(notice.Finish());
                    }
                    catch (Exception e) when (e is IOException or NativeException)
                    {
                        Log($"could not tell partition '{survivor.Name}' of its peer's death: {e.Message}");
                    }
                }
            }
            RemoveGrant(grant);
        }
        client.Socket.Dispose();
        client.Process.Dispose();
        client.Group?.Dispose();
    }

    private void RemoveGrant(GrantRecord grant)
    {
        _grants.Remove(grant.Id);
        grant.Listener.GrantCount--;
        grant.Connector.GrantCount--;
        if (grant.ListenerVector is { } listenerVector)
        {
            grant.Listener.FreeVectors.Push(listenerVector);
        }
        if (grant.ConnectorVector is { } connectorVector)
        {
            grant.Connector.FreeVectors.Push(connectorVector);
        }
        grant.Window.Dispose(); // partitions keep their own mappings
        Interlocked.Decrement(ref _grantCount);
    }

    private void ExpirePendingConnects()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var pending in _pending.Where(p => p.Deadline <= now).ToArray())
        {
            _pending.Remove(pending);
            TrySendError(pending.Client, pending.RequestId, ControlError.UnknownService, $"no partition offered service '{pending.Service}' within the connect timeout");
        }
    }

    private bool MayUse(Client client, string service)
        => !_options.ServicePartitions.TryGetValue(service, out var names) || names.Contains(client.Name!);

    private void Deny(Client client, uint requestId, string reason)
    {
        IicEventSource.Log.PolicyDenied(client.Name ?? "(unattached)", client.Credentials.Pid, reason);
        Log("refused: " + reason);
        TrySendError(client, requestId, ControlError.PolicyDenied, reason);
    }

    private void TrySendError(Client client, uint requestId, ControlError error, string reason)
    {
        var writer = new ControlWriter(_sendBuffer, ControlMessageType.Error, requestId);
        writer.WriteUInt32((uint)error);
        writer.WriteString(reason.Length > 400 ? reason[..400] : reason);
        try
        {
            client.Socket.Send(writer.Finish());
        }
        catch (Exception e) when (e is IOException or NativeException or ObjectDisposedException)
        {
            // The client is gone; its hang-up is handled by the loop.
        }
    }

    private static string ReadServiceName(ref ControlReader reader)
    {
        var service = reader.ReadString(ControlProtocol.MaxNameLength);
        try
        {
            ControlProtocol.ValidateName(service, "service");
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
        return service;
    }

    private void Log(string line) => _options.Log?.Invoke(line);

    private sealed class Client(SeqPacketSocket socket, ProcessHandle process, PeerCredentials credentials)
    {
        public SeqPacketSocket Socket { get; } = socket;

        public ProcessHandle Process { get; } = process;

        public PeerCredentials Credentials { get; } = credentials;

        public string? Name { get; set; }

        public uint Id { get; set; }

        public bool Attached { get; set; }

        public int GrantCount { get; set; }

        public HashSet<string> Services { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, bool> GroupedServices { get; } = new(StringComparer.Ordinal);

        public InterruptGroup? Group { get; set; }

        public Stack<int> FreeVectors { get; } = new();

        public int NextVector { get; set; }

        public int TakeVector() => FreeVectors.Count > 0 ? FreeVectors.Pop() : NextVector++;
    }

    private sealed class GrantRecord(long id, SharedWindow window, string service, Client listener, Client connector)
    {
        public long Id { get; } = id;

        public SharedWindow Window { get; } = window;

        public string Service { get; } = service;

        public Client Listener { get; } = listener;

        public Client Connector { get; } = connector;

        public bool ListenerReleased { get; set; }

        public bool ConnectorReleased { get; set; }

        public int? ListenerVector { get; init; }

        public int? ConnectorVector { get; init; }
    }

    private sealed record PendingConnect(Client Client, uint RequestId, string Service, int RingCapacity, bool Grouped, long Deadline);
}
