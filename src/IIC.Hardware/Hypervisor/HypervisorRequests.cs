using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>The hypervisor's request handlers: Attach, Listen, Unlisten, Connect, Release, and the grant itself.</summary>
public sealed partial class Hypervisor
{
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
        var allowed = _options.AllowedUids.Count == 0 ? client.Credentials.Uid == _ownUid : _options.AllowedUids.Contains(client.Credentials.Uid);
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

    private void HandleListen(ControlClient client, ref ControlReader reader)
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

    private void HandleUnlisten(ControlClient client, ref ControlReader reader)
    {
        var service = ReadServiceName(ref reader);
        reader.EnsureEnd();
        if (_services.TryGetValue(service, out var owner) && owner == client)
        {
            _services.Remove(service);
            client.Services.Remove(service);
        }
    }

    private void HandleConnect(ControlClient client, ref ControlReader reader)
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

    private void HandleRelease(ControlClient client, ref ControlReader reader)
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

    private void Grant(ControlClient connector, uint requestId, string service, int capacity, bool connectorGrouped)
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

    private static bool ReadGroupedFlag(ControlClient client, ref ControlReader reader)
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

    private bool MayUse(ControlClient client, string service)
        => !_options.ServicePartitions.TryGetValue(service, out var names) || names.Contains(client.Name!);

    private void Deny(ControlClient client, uint requestId, string reason)
    {
        IicEventSource.Log.PolicyDenied(client.Name ?? "(unattached)", client.Credentials.Pid, reason);
        Log("refused: " + reason);
        TrySendError(client, requestId, ControlError.PolicyDenied, reason);
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
