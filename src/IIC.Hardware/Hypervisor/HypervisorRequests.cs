using System.Diagnostics;
using System.Numerics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>The hypervisor's request handlers: Attach, Listen, Unlisten, Connect, Release, and the grant itself.</summary>
public sealed partial class Hypervisor
{
    private readonly Dictionary<string, ControlClient> _services = new(StringComparer.Ordinal);
    private readonly PairGroups _pairGroups = new();

    private void Handle(ControlClient client, ReadOnlySpan<byte> message)
    {
        var reader = new ControlReader(message);
        if (!client.Attached && reader.Type != ControlMessageType.Attach)
        {
            throw new InvalidDataException($"A {reader.Type} message arrived before Attach.");
        }
        if (_receivedDescriptors.Count > 0)
        {
            throw new InvalidDataException($"A {reader.Type} message carried {_receivedDescriptors.Count} descriptors; requests carry none (since protocol version 3 the hypervisor makes the group pages).");
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
            case ControlMessageType.Cancel:
                HandleCancel(client, ref reader);
                break;
            case ControlMessageType.Accepted:
                HandleAccepted(client, ref reader);
                break;
            default:
                throw new InvalidDataException($"Message type {(ushort)reader.Type} is not a request.");
        }
    }

    private void HandleAttach(ControlClient client, ref ControlReader reader)
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
        if (_policy.CheckAttach(client, name) is { } refusal)
        {
            Refuse(client, reader.RequestId, "Attach", refusal.Error, refusal.Reason);
            Disconnect(client, "refused: " + refusal.Reason, died: false);
            return;
        }
        if (PartitionCount >= _options.MaxPartitions)
        {
            Refuse(client, reader.RequestId, "Attach", ControlError.LimitExceeded, $"the hypervisor already has {_options.MaxPartitions} partitions attached (MaxPartitions)");
            Disconnect(client, "too many partitions", died: false);
            return;
        }
        client.Name = name;
        client.Id = ++_nextPartitionId;
        client.Attached = true;
        _unattached--;
        _policy.Hold(client);
        Interlocked.Increment(ref _partitionCount);
        var writer = new ControlWriter(_sendBuffer, ControlMessageType.Attached, reader.RequestId);
        writer.WriteUInt32(client.Id);
        writer.WriteUInt32((uint)Environment.ProcessId);
        Send(client, writer.Finish());
        IicEventSource.Log.PartitionAttached(name, client.Credentials.Pid, (int)client.Credentials.Uid);
        Log($"attached partition '{name}' (pid {client.Credentials.Pid}, uid {client.Credentials.Uid})");
        if (Logger is { } logger)
        {
            HypervisorLog.Attached(logger, name, client.Credentials.Pid, client.Credentials.Uid);
        }
    }

    private void HandleListen(ControlClient client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        var grouped = ReadGroupedFlag(ref reader);
        // Optional after flags (version 4): the listen backlog, connections granted that the application has not taken yet.
        var backlog = reader.Remaining >= 4 ? reader.ReadUInt32() : (uint)ControlProtocol.DefaultListenBacklog;
        reader.EnsureEnd();
        if (backlog is 0 or > ControlProtocol.MaxListenBacklog)
        {
            throw new InvalidDataException($"A listen backlog of {backlog} is out of range 1-{ControlProtocol.MaxListenBacklog}.");
        }
        if (!_policy.MayUse(client, service))
        {
            Refuse(client, reader.RequestId, "Listen", ControlError.PolicyDenied, $"partition '{client.Name}' may not offer service '{service}'");
            return;
        }
        if (_services.TryGetValue(service, out var owner))
        {
            Refuse(client, reader.RequestId, "Listen", ControlError.DuplicateService, $"service '{service}' is already offered by partition '{owner.Name}' (pid {owner.Credentials.Pid})");
            return;
        }
        _services[service] = client;
        client.Services.Add(service);
        client.GroupedServices[service] = grouped;
        client.Backlogs[service] = new ServiceBacklog((int)backlog);
        if (!Send(client, new ControlWriter(_sendBuffer, ControlMessageType.Listening, reader.RequestId).Finish()))
        {
            return;
        }
        IicEventSource.Log.ServiceListening(service, client.Name!, client.Credentials.Pid);
        Log($"partition '{client.Name}' offers '{service}'");
        GrantWaiting(service); // the connects that waited for it, as far as its accept queue takes them
    }

    private void HandleUnlisten(ControlClient client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        reader.EnsureEnd();
        if (_services.TryGetValue(service, out var owner) && owner == client)
        {
            _services.Remove(service);
            client.Services.Remove(service);
            client.Backlogs.Remove(service);
        }
    }

    private void HandleAccepted(ControlClient client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        var count = reader.ReadUInt32();
        reader.EnsureEnd();
        if (count == 0)
        {
            throw new InvalidDataException("An Accepted message must report at least one connection taken.");
        }
        // Credit for a service it no longer offers (it unlistened; the credit crossed) is ignored. A listener that
        // over-reports only lets its own service receive more than its backlog (ServiceBacklog.Taken clamps).
        if (client.Backlogs.TryGetValue(service, out var backlog) && _services.GetValueOrDefault(service) == client)
        {
            backlog.Taken(count);
            GrantWaiting(service);
        }
    }

    private void HandleConnect(ControlClient client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        var capacity = reader.ReadUInt32();
        var timeoutMs = reader.ReadUInt32();
        var grouped = ReadGroupedFlag(ref reader);
        reader.EnsureEnd();
        if (capacity < DescriptorRing.MinCapacity || capacity > (uint)_options.MaxRingCapacity || !BitOperations.IsPow2(capacity))
        {
            Refuse(client, reader.RequestId, "Connect", ControlError.LimitExceeded, $"a ring of {capacity} bytes is not allowed: use a power of two from {DescriptorRing.MinCapacity} to {_options.MaxRingCapacity}");
            return;
        }
        if (!_policy.MayUse(client, service))
        {
            Refuse(client, reader.RequestId, "Connect", ControlError.PolicyDenied, $"partition '{client.Name}' may not connect to service '{service}'");
            return;
        }
        if (_services.TryGetValue(service, out var offering) && HasRoom(offering, service))
        {
            GrantWaiting(service); // those that waited first (none, normally: room admits them the moment it appears)
        }
        var listener = _services.GetValueOrDefault(service); // again: a grant above may have detached it
        if (listener is not null && HasRoom(listener, service))
        {
            Grant(client, reader.RequestId, service, (int)capacity, grouped);
        }
        else if (listener is not null && IsStalled(listener, service, Stopwatch.GetTimestamp()))
        {
            Refuse(client, reader.RequestId, "Connect", ControlError.NotAccepting, StalledReason(listener, service, Stopwatch.GetTimestamp()));
        }
        else if (listener is not null && timeoutMs == 0)
        {
            Refuse(client, reader.RequestId, "Connect", ControlError.NotAccepting, BusyReason(listener, service, waited: false));
        }
        else if (timeoutMs > 0)
        {
            // Waits for the service to be offered, or for its busy listener to read its accept queue (HypervisorAcceptQueue.cs).
            if (_ledger.CheckPending(client) is { } reason)
            {
                QuotaHit(client, reader.RequestId, "Connect", reason);
                return;
            }
            _pending.Add(new PendingConnect(client, reader.RequestId, service, (int)capacity, grouped,
                Stopwatch.GetTimestamp() + (long)(Math.Min(timeoutMs, 600_000u) / 1000.0 * Stopwatch.Frequency)));
        }
        else
        {
            SendError(client, reader.RequestId, ControlError.UnknownService, $"no partition offers service '{service}'; start its server first (or connect with a timeout to wait for it)");
        }
    }

    private void HandleCancel(ControlClient client, ref ControlReader reader)
    {
        reader.EnsureEnd();
        // Bounded by MaxPendingConnectsPerPartition. Not waiting any more (granted, expired, refused): nothing to do;
        // a grant already on its way is released by the partition when no caller waits for it.
        foreach (var pending in client.Pending)
        {
            if (pending.RequestId == reader.RequestId)
            {
                _pending.Remove(pending);
                return;
            }
        }
    }

    private void HandleRelease(ControlClient client, ref ControlReader reader)
    {
        var id = reader.ReadInt64();
        reader.EnsureEnd();
        if (!_grants.TryGet(id, out var grant))
        {
            return; // already released (e.g. the peer died first)
        }
        if (grant.Listener == client)
        {
            grant.ListenerReleased = true;
        }
        if (grant.Connector == client)
        {
            grant.ConnectorReleased = true;
        }
        if (grant.ListenerReleased && grant.ConnectorReleased)
        {
            RemoveGrant(grant);
        }
    }

    /// <summary>Grants a connection to <paramref name="service"/>, whose listener the caller saw offering it with room in its accept queue.</summary>
    private void Grant(ControlClient connector, uint requestId, string service, int capacity, bool connectorGrouped)
    {
        var listener = _services[service];
        var listenerGrouped = listener.GroupedServices.GetValueOrDefault(service);
        var sameVectorsPage = listenerGrouped && connectorGrouped && listener == connector ? 2 : 1; // a partition connected to itself: one page, two vectors
        if ((listenerGrouped && _pairGroups.Check(listener, connector, sameVectorsPage) is { } listenerLimit && QuotaHit(connector, requestId, "Connect", listenerLimit))
            || (connectorGrouped && _pairGroups.Check(connector, listener, sameVectorsPage) is { } connectorLimit && QuotaHit(connector, requestId, "Connect", connectorLimit)))
        {
            return;
        }
        var windowBytes = (2L * DescriptorRing.SizeFor(capacity)) + (2 * 4096); // rings plus header pages, as SharedWindow lays them out
        if (_ledger.CheckGrant(listener, connector, windowBytes) is { } reason)
        {
            QuotaHit(connector, requestId, "Connect", reason);
            return;
        }
        var id = ++_nextConnectionId;
        PairGroup? listenerPage = null, connectorPage = null;
        int listenerVector = 0, connectorVector = 0;
        HeldWindow window;
        try
        {
            // The listener receives from the connector through their pair's page, and the connector from the listener through the other.
            listenerPage = listenerGrouped ? _pairGroups.Take(listener, connector, out listenerVector) : null;
            connectorPage = connectorGrouped ? _pairGroups.Take(connector, listener, out connectorVector) : null;
            var shape = new WindowOptions // one record per grant (WithCapacity(...) with {...} made two)
            {
                RingCapacity0 = capacity,
                RingCapacity1 = capacity,
                GroupVector0 = listenerPage is null ? null : listenerVector,
                GroupVector1 = connectorPage is null ? null : connectorVector,
            };
            // The hypervisor never maps the window here (HeldWindow): the header is pwritten into the file.
            if (_windowPool.TryTake(capacity, out var prepared)) // a fresh file made ahead (WindowPool), its default header written then
            {
                window = HeldWindow.Adopt(shape, prepared, _windowPool.Shape); // a grouped grant rewrites the header (one pwrite)
                _helper.WindowTaken(); // the helper refills it when the pool runs low
            }
            else
            {
                window = HeldWindow.Create(shape, $"iic-{service}-{id}");
            }
        }
        catch (NativeException e) when (IsExhaustion(e))
        {
            if (listenerPage is not null)
            {
                _pairGroups.Give(listenerPage, listenerVector);
            }
            if (connectorPage is not null)
            {
                _pairGroups.Give(connectorPage, connectorVector);
            }
            Exhausted(e.ErrnoName is "ENOMEM" or "ENOSPC" ? "memory" : "descriptors", $"a window for '{service}' could not be created: {e.Message}");
            SendError(connector, requestId, ControlError.ResourceExhausted, $"the hypervisor could not create a window ({e.Message}); retry later");
            return;
        }
        ConnectTrace.Mark(ConnectStep.HypervisorWindow);
        // Marking a side dead raises the grouped receivers' pages too (HeldWindow.MarkDead).
        if (listenerPage is not null)
        {
            window.AttachGroup(0, listenerPage.Group);
        }
        if (connectorPage is not null)
        {
            window.AttachGroup(1, connectorPage.Group);
        }
        var grant = new GrantRecord(id, window, service, listener, connector)
        {
            ListenerPage = listenerPage, ListenerVector = listenerVector, ConnectorPage = connectorPage, ConnectorVector = connectorVector,
        };
        _grants.Add(grant);
        Volatile.Write(ref _grantCount, _grants.Count);

        var backlog = listener.Backlogs.GetValueOrDefault(service);
        if (ConnectedFirst && listener != connector && listener.Outbound.Count + 1 < _options.MaxOutboundMessagesPerPartition)
        {
            // The connector hears first (control-protocol.md §3, "Connect"), as TCP's connect() completes while the
            // connection waits in the listen backlog: a connector spinning for its reply sends its first message at
            // once and it is in the ring when the listener, woken second, accepts; told first, the listener (on 2 CPUs)
            // preempts this thread between the two sends and then waits for a message not yet sendable. The grant is
            // committed to the listener's bounded backlog before the connector hears (the caller saw room in it), and
            // the Incoming cannot fail for the queue bound checked above: if it fails all the same (the listener hung
            // up or broke its socket), Send detaches the listener like any partition that dies, which marks its side
            // Dead and sends the connector PeerDied (ECONNRESET for a connection reset in the backlog).
            backlog?.Granted(Stopwatch.GetTimestamp());
            grant.ListenerHeard = false; // a connector that fails now was never announced: no PeerDied to the listener
            if (!SendConnected(connector, requestId, grant))
            {
                backlog?.Taken(1); // the connector was detached and its grant went with it; the listener never heard of it
                return;
            }
            grant.ListenerHeard = true;
            SendIncoming(listener, service, grant); // false: the listener was detached, and the connector told of its death
        }
        else
        {
            if (!SendIncoming(listener, service, grant) || !listener.Connected)
            {
                // The listener left (the grant went with it): this connector alone is told.
                SendError(connector, requestId, ControlError.UnknownService, $"the partition offering '{service}' is gone");
                return;
            }
            backlog?.Granted(Stopwatch.GetTimestamp()); // in its backlog until it reports the connection taken
            if (!SendConnected(connector, requestId, grant))
            {
                return; // the connector was detached; its grant went with it
            }
        }
        _grantedThisTurn = true;
        IicEventSource.Log.ConnectionGranted(service, id, listener.Credentials.Pid, connector.Credentials.Pid);
        if (_options.Log is not null) // the line is built only for a log that takes it: a grant allocates no text otherwise
        {
            Log($"granted connection {id} to '{service}': '{connector.Name}' (pid {connector.Credentials.Pid}) -> '{listener.Name}' (pid {listener.Credentials.Pid}), {capacity} bytes per ring");
        }
        if (Logger is { } logger)
        {
            HypervisorLog.Granted(logger, id, service, connector.Credentials.Pid, listener.Credentials.Pid, window.Size);
        }
    }

    /// <summary>
    /// Whether the connector is told of its grant before the listener (the default); <c>IIC_CONNECTED_FIRST=0</c> in
    /// the environment restores the listener-first order for A/B runs.
    /// </summary>
    internal static bool ConnectedFirst { get; } = Environment.GetEnvironmentVariable("IIC_CONNECTED_FIRST") != "0";

    /// <summary>Sends the listener its <c>Incoming</c>; false when the listener was detached instead.</summary>
    private bool SendIncoming(ControlClient listener, string service, GrantRecord grant)
    {
        var incoming = new ControlWriter(_sendBuffer, ControlMessageType.Incoming, 0);
        incoming.WriteInt64(grant.Id);
        incoming.WriteUInt32(0);
        incoming.WriteUInt32((uint)grant.Connector.Credentials.Pid);
        incoming.WriteString(service);
        incoming.WriteString(grant.Connector.Name!);
        incoming.WriteInt64(grant.ListenerPage?.Id ?? 0);
        return SendGrant(listener, incoming.Finish(), grant.Window, grant.Connector, grant.ListenerPage, grant.ConnectorPage);
    }

    /// <summary>Sends the connector its <c>Connected</c>; false when the connector was detached instead (its grant went with it).</summary>
    private bool SendConnected(ControlClient connector, uint requestId, GrantRecord grant)
    {
        var connected = new ControlWriter(_sendBuffer, ControlMessageType.Connected, requestId);
        connected.WriteInt64(grant.Id);
        connected.WriteUInt32(1);
        connected.WriteUInt32((uint)grant.Listener.Credentials.Pid);
        connected.WriteString(grant.Listener.Name!);
        connected.WriteInt64(grant.ConnectorPage?.Id ?? 0);
        return SendGrant(connector, connected.Finish(), grant.Window, grant.Listener, grant.ConnectorPage, grant.ListenerPage);
    }

    /// <summary>
    /// Sends a grant: the window, a pidfd of the peer (so this side detects the peer's death by itself), then the
    /// pair page this side receives through (if its side is grouped), then the pair page the peer receives through
    /// (if the peer's side is grouped). Each page is shared by exactly these two partitions.
    /// </summary>
    private bool SendGrant(ControlClient to, ReadOnlySpan<byte> message, HeldWindow window, ControlClient peer, PairGroup? ownPage, PairGroup? peerPage)
        => (ownPage, peerPage) switch
        {
            ({ } own, { } other) => Send(to, message, isGrant: true, window.File, peer.Process.Descriptor, own.Group.File, other.Group.File),
            ({ } own, null) => Send(to, message, isGrant: true, window.File, peer.Process.Descriptor, own.Group.File),
            (null, { } other) => Send(to, message, isGrant: true, window.File, peer.Process.Descriptor, other.Group.File),
            _ => Send(to, message, isGrant: true, window.File, peer.Process.Descriptor),
        };

    private static bool ReadGroupedFlag(ref ControlReader reader)
    {
        // Optional trailing flags: bit 0 = receive through a group page (one per peer partition).
        var flags = reader.Remaining >= 4 ? reader.ReadUInt32() : 0;
        if ((flags & ~1u) != 0)
        {
            throw new InvalidDataException($"Unknown request flags 0x{flags:x}.");
        }
        return (flags & 1) != 0;
    }

    /// <summary>Refuses a request for a limit; returns true (so it reads as a condition).</summary>
    private bool QuotaHit(ControlClient client, uint requestId, string request, string reason)
    {
        if (Logger is { } logger)
        {
            HypervisorLog.QuotaHit(logger, client.Credentials.Pid, reason);
        }
        IicEventSource.Log.PolicyDenied(client.Name ?? "(unattached)", client.Credentials.Pid, "quota: " + reason);
        Log($"quota: {request} refused: {reason}");
        SendError(client, requestId, ControlError.LimitExceeded, reason);
        return true;
    }

    private void Refuse(ControlClient client, uint requestId, string request, ControlError error, string reason)
    {
        IicEventSource.Log.PolicyDenied(client.Name ?? "(unattached)", client.Credentials.Pid, reason);
        Log("refused: " + reason);
        if (Logger is { } logger)
        {
            HypervisorLog.Refused(logger, request, client.Credentials.Pid, error, reason);
        }
        SendError(client, requestId, error, reason);
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
}
