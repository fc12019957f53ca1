using System.Diagnostics;
using System.Runtime.InteropServices;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The hypervisor's event loop: polls the listener, every partition's socket (writable too while messages wait
/// for it) and pidfd, and dispatches. Nothing here blocks on a partition: receives and sends use MSG_DONTWAIT,
/// replies a partition does not read wait in its bounded <see cref="OutboundQueue"/>, and deadlines (attach,
/// stalled queue, pending connects) bound the poll timeout.
/// </summary>
public sealed partial class Hypervisor
{
    private const int AcceptsPerTurn = 32;
    private const int ControlSendBufferBytes = 4096;

    private readonly List<ControlClient> _clients = [];
    private readonly byte[] _receiveBuffer = new byte[ControlProtocol.MaxMessageSize];
    private readonly byte[] _sendBuffer = new byte[ControlProtocol.MaxMessageSize];
    private readonly List<FileDescriptor> _receivedDescriptors = [];
    private readonly List<PollEntry> _pollEntries = [];
    private readonly List<ControlClient> _polled = []; // the clients in the order polled this turn (reused: no allocation per turn)
    private EventFd? _spare; // closed to accept (and drop) one connection when the process is out of descriptors
    private int _unattached;
    private uint _nextPartitionId;
    private long _nextConnectionId;

    private void Run()
    {
        while (!_stopping)
        {
            var entries = _pollEntries;
            entries.Clear();
            entries.Add(new PollEntry(_wakeup.Descriptor, PollEvents.Readable));
            entries.Add(new PollEntry(_listener.Descriptor, PollEvents.Readable));
            var polled = _polled; // a snapshot: handlers may add or remove clients
            polled.Clear();
            polled.AddRange(_clients);
            foreach (var client in polled)
            {
                var events = PollEvents.Readable | (client.Outbound.Count > 0 ? PollEvents.Writable : PollEvents.None);
                entries.Add(new PollEntry(client.Socket.Descriptor, events));
                entries.Add(new PollEntry(client.Process.Descriptor, PollEvents.Readable));
            }
            var span = CollectionsMarshal.AsSpan(entries);
            try
            {
                if (PollOrSpin(span, NextTimeout()) == 0 && _helper.HasUnsignalledWork)
                {
                    _helper.Wake(); // idle for HypervisorHelper.IdleHandOver: hand the queued work over now
                }
            }
            catch (NativeException e)
            {
                Log($"poll failed: {e.Message}");
                Thread.Sleep(10); // ENOMEM: give the kernel a moment rather than spin
                continue;
            }
            if (_stopping)
            {
                break;
            }
            _activeUntil = 0;
            for (var i = 0; i < polled.Count; i++)
            {
                var client = polled[i];
                var socketEvents = span[2 + (2 * i)].ReturnedEvents;
                var processEvents = span[3 + (2 * i)].ReturnedEvents;
                if (socketEvents != PollEvents.None && SpinTicks > 0 && _activeUntil == 0)
                {
                    _activeUntil = Stopwatch.GetTimestamp() + SpinTicks; // a partition spoke: the next request may follow at once
                }
                if (client.Connected && (socketEvents & PollEvents.Writable) != 0)
                {
                    FlushOutbound(client);
                }
                if (client.Connected && (socketEvents & ~PollEvents.Writable) != 0)
                {
                    // After a notice (Release, Accepted: no reply), up to MessagesPerTurn in a row: a closing connector's
                    // Release and its next Connect arrive together, and one message per turn cost the Connect a whole turn
                    // (a poll over every descriptor, ~2.5 µs). Only after a notice: after a request, the partition waits for
                    // our answer, and another look would cost a receive that finds nothing.
                    for (var served = 0; served < MessagesPerTurn && ServeClient(client) && client.Connected; served++)
                    {
                    }
                }
                else if (client.Connected && (processEvents & PollEvents.Readable) != 0)
                {
                    Disconnect(client, "its process exited", died: true);
                }
            }
            if (_grantedThisTurn)
            {
                _grantedThisTurn = false;
                if (SleepAfterGrant)
                {
                    _activeUntil = 0; // opt-in: leave both CPUs to the connector and the woken listener (SleepAfterGrant)
                }
            }
            if ((span[1].ReturnedEvents & PollEvents.Readable) != 0)
            {
                AcceptClients();
            }
            polled.Clear(); // holds no client past its turn
            ExpirePendingConnects();
            EnforceDeadlines();
            if (RefillsOnLoop)
            {
                RefillWindowPool(span); // the loop's idle time goes to the pool
            }
        }
        foreach (var client in _clients.ToArray())
        {
            Disconnect(client, "the hypervisor stopped", died: false);
        }
        _helper.Stop(); // finishes the windows queued for unmapping, then ends
        _windowPool.Dispose();
    }

    /// <summary>Makes one window for the pool on the loop (no helper, or the helper fell behind and the pool is empty), only when no request waits (requests first; NextTimeout brings us back at once).</summary>
    private void RefillWindowPool(Span<PollEntry> entries)
    {
        if (!_windowPool.NeedsRefill || _stopping)
        {
            return;
        }
        try
        {
            if (Poll.Wait(entries, TimeSpan.Zero) != 0)
            {
                return;
            }
        }
        catch (NativeException)
        {
            return;
        }
        if (_windowPool.RefillOne() is { } refused)
        {
            Log($"the window pool stays at {_windowPool.Count}: {refused.Message} (grants create their windows themselves meanwhile)");
        }
    }

    /// <summary>
    /// Whether the event loop refills the pool in its idle time: without a helper thread, and also with one that is
    /// that falls behind (a busy box) when the pool ran empty, so grants do not all create their windows then.
    /// </summary>
    private bool RefillsOnLoop => !_helper.IsRunning || _windowPool.Count == 0;

    private TimeSpan NextTimeout()
    {
        if (RefillsOnLoop && _windowPool.NeedsRefill)
        {
            return TimeSpan.Zero; // idle time goes to the pool
        }
        var now = Stopwatch.GetTimestamp();
        var next = now + Stopwatch.Frequency; // at most 1 s
        if (_helper.HasUnsignalledWork)
        {
            next = Math.Min(next, now + (long)(HypervisorHelper.IdleHandOver.TotalSeconds * Stopwatch.Frequency)); // then hand it over (Run)
        }
        if (_pending.NextDeadline is { } deadline)
        {
            next = Math.Min(next, deadline);
        }
        if (_unattached > 0 || _pending.Count > 0 || _clients.Exists(c => c.Outbound.Count > 0))
        {
            next = Math.Min(next, now + (Stopwatch.Frequency / 10)); // attach and stall deadlines (socket and backlog), checked every 100 ms
        }
        return TimeSpan.FromSeconds(Math.Max(0, next - now) / (double)Stopwatch.Frequency);
    }

    private void AcceptClients()
    {
        for (var i = 0; i < AcceptsPerTurn; i++)
        {
            SeqPacketSocket? socket;
            try
            {
                if (!_listener.TryAccept(TimeSpan.Zero, out socket))
                {
                    return;
                }
            }
            catch (NativeException e) when (e.ErrnoName is "EMFILE" or "ENFILE" or "ENOMEM" or "ENOBUFS")
            {
                ShedConnection(e);
                return;
            }
            if (_unattached >= _options.MaxUnattachedConnections)
            {
                Exhausted("control connections", $"{_unattached} connections have not attached yet (MaxUnattachedConnections = {_options.MaxUnattachedConnections}); closed a new one");
                socket.Dispose();
                continue;
            }
            try
            {
                // A small send buffer: what a partition does not read waits in its OutboundQueue, where the bounds
                // (MaxQueuedGrantsPerPartition, MaxOutboundMessagesPerPartition) apply, not in the kernel (whose default
                // 208 KiB held ~280 grants). The kernel doubles this and keeps a floor of ~4.5 KiB: a handful of messages.
                socket.SendBufferSize = ControlSendBufferBytes;
                var credentials = socket.GetPeerCredentials();
                var process = OpenPeerProcess(socket, credentials);
                _clients.Add(new ControlClient(socket, process, credentials));
                _unattached++;
            }
            catch (Exception e) when (e is NativeException or InvalidOperationException)
            {
                Log($"dropped a connection whose process could not be identified: {e.Message}");
                IicEventSource.Log.ProtocolFault("(unattached)", 0, "dropped a control connection whose process could not be identified: " + e.Message);
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// A stable handle on the process behind a control connection, for death detection and to hand to its peers
    /// with each grant. The one place that acquires it: the socket's own pidfd (SO_PEERPIDFD, Linux 6.5+), else pidfd_open of the SO_PEERCRED pid.
    /// </summary>
    /// <exception cref="NativeException">pidfd_open failed (ESRCH: it already exited; EMFILE).</exception>
    private static ProcessHandle OpenPeerProcess(SeqPacketSocket socket, PeerCredentials credentials) => PeerProcess.Open(socket, credentials); // SO_PEERPIDFD: valid across pid namespaces

    /// <summary>
    /// Out of descriptors with a connection waiting: poll would report the listener readable forever. Close the
    /// spare descriptor, accept and close the connection (its partition reads a hang-up), then take the spare back.
    /// </summary>
    private void ShedConnection(NativeException error)
    {
        Exhausted("descriptors", $"accept failed ({error.Message}); a waiting control connection was closed ({ProcessLimits.DescribeOpenFilesLimit()})");
        _spare?.Dispose();
        _spare = null;
        try
        {
            if (_listener.TryAccept(TimeSpan.Zero, out var socket))
            {
                socket.Dispose();
            }
        }
        catch (NativeException)
        {
            // Still out: the next turn tries again.
        }
        try
        {
            _spare = new EventFd();
        }
        catch (NativeException)
        {
            // Another thread of this process took the slot; the next EMFILE sheds without a spare.
        }
    }

    /// <summary>Messages one partition may have served in one turn before the loop polls again (fairness bound).</summary>
    private const int MessagesPerTurn = 4;

    /// <summary>Receives and handles one message of <paramref name="client"/>; true when it was a notice (Release, Accepted), after which another may wait.</summary>
    private bool ServeClient(ControlClient client)
    {
        int received;
        _receivedDescriptors.Clear();
        try
        {
            if (!client.Socket.TryReceive(_receiveBuffer, _receivedDescriptors, TimeSpan.Zero, out received))
            {
                return false; // nothing (more) there
            }
        }
        catch (Exception e) when (e is IOException or NativeException)
        {
            Disconnect(client, $"its control message was unreadable ({e.Message})", died: false);
            return false;
        }
        if (received == 0)
        {
            Disconnect(client, client.Process.HasExited ? "its process exited" : "it hung up", died: true);
            return false;
        }
        ConnectTrace.MarkMessage(ConnectStep.HypervisorReceived, _receiveBuffer.AsSpan(0, received));
        var notice = received >= ControlProtocol.HeaderSize
            && (ControlMessageType)System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(_receiveBuffer.AsSpan(6)) is ControlMessageType.Release or ControlMessageType.Accepted;
        try
        {
            Handle(client, _receiveBuffer.AsSpan(0, received));
        }
        catch (InvalidDataException e)
        {
            IicEventSource.Log.ProtocolFault(client.Name ?? "(unattached)", client.Credentials.Pid, e.Message);
            SendError(client, 0, ControlError.BadMessage, e.Message);
            Disconnect(client, $"it sent a malformed message: {e.Message}", died: true);
        }
        catch (NativeException e) when (IsExhaustion(e))
        {
            // Out of descriptors or memory for this one request: refuse it, keep the partition and keep serving.
            Exhausted(e.ErrnoName is "ENOMEM" ? "memory" : "descriptors", $"a request of {client.Describe()} failed: {e.Message}");
            SendError(client, new ControlReader(_receiveBuffer.AsSpan(0, received)).RequestId, ControlError.ResourceExhausted,
                $"the hypervisor is out of a kernel resource ({e.Message}); retry later");
        }
        catch (Exception e) when (e is IOException or NativeException)
        {
            Disconnect(client, $"a reply could not be sent ({e.Message})", died: true);
        }
#pragma warning disable CA1031 // The event loop must outlive any one partition: a bug serving one client disconnects it, never the hypervisor.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            Log($"internal error serving {client.Describe()}; disconnecting it: {e}");
            IicEventSource.Log.ProtocolFault(client.Name ?? "(unattached)", client.Credentials.Pid, "internal error: " + e.Message);
            Disconnect(client, "internal error: " + e.Message, died: true);
        }
        finally
        {
            DisposeReceived(); // descriptors a handler kept were removed from the list
        }
        return notice; // the type is only a hint here: Handle validated the message (or disconnected the client)
    }

    private static bool IsExhaustion(NativeException e) => e.ErrnoName is "EMFILE" or "ENFILE" or "ENOMEM" or "ENOSPC" or "ENOBUFS" or "EAGAIN";

    private void DisposeReceived()
    {
        foreach (var descriptor in _receivedDescriptors)
        {
            descriptor.Dispose();
        }
        _receivedDescriptors.Clear();
    }

    /// <summary>Sends <paramref name="message"/> to <paramref name="client"/> without waiting, queueing it if the socket is full.</summary>
    /// <returns>False when the client was detached (it hung up, or did not read and its queue is full).</returns>
    private bool Send(ControlClient client, ReadOnlySpan<byte> message, bool isGrant = false, params ReadOnlySpan<FileDescriptor> descriptors)
    {
        if (!client.Connected)
        {
            return false;
        }
        if (client.Outbound.Count >= _options.MaxOutboundMessagesPerPartition)
        {
            Disconnect(client, $"it did not read its control socket: {client.Outbound.Count} messages waited for it (MaxOutboundMessagesPerPartition)", died: true);
            return false;
        }
        try
        {
            client.Outbound.Send(client.Socket, message, isGrant, descriptors);
            ConnectTrace.MarkMessage(ConnectStep.HypervisorSent, message);
            return true;
        }
        catch (Exception e) when (e is IOException or NativeException or ObjectDisposedException)
        {
            Disconnect(client, $"a message could not be sent ({e.Message})", died: true);
            return false;
        }
    }

    private void FlushOutbound(ControlClient client)
    {
        try
        {
            client.Outbound.Flush(client.Socket);
        }
        catch (Exception e) when (e is IOException or NativeException or ObjectDisposedException)
        {
            Disconnect(client, $"a queued message could not be sent ({e.Message})", died: true);
            return;
        }
        GrantWaitingFor(client); // it read: its accept queue has room for connects that wait

    }

    /// <summary>Detaches what overstayed (a connection that did not attach in time, a partition that stopped reading) and fails the connects waiting for a stalled listener.</summary>
    private void EnforceDeadlines()
    {
        if (_unattached == 0 && _pending.Count == 0 && !_clients.Exists(c => c.Outbound.Count > 0))
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        var attachTicks = (long)(_options.AttachTimeout.TotalSeconds * Stopwatch.Frequency);
        var stallTicks = (long)(_options.OutboundStallTimeout.TotalSeconds * Stopwatch.Frequency);
        foreach (var client in _clients.ToArray())
        {
            if (!client.Attached && now - client.AcceptedAt > attachTicks)
            {
                Disconnect(client, $"it did not attach within {_options.AttachTimeout.TotalSeconds:0.###} s (AttachTimeout)", died: false);
            }
            else if (client.Outbound.StalledSince != 0 && now - client.Outbound.StalledSince > stallTicks)
            {
                var reason = $"it did not read its control socket for {_options.OutboundStallTimeout.TotalSeconds:0.###} s with {client.Outbound.Count} messages waiting (OutboundStallTimeout)";
                FailWaitingForDetached(client, reason); // they waited for this listener: tell them why, not UnknownService at their timeout
                Disconnect(client, reason, died: true);
            }
            else if (client.Connected)
            {
                FailWaitingForStalled(client, now);
            }
        }
    }

    private void Disconnect(ControlClient client, string reason, bool died)
    {
        if (!client.Connected)
        {
            return;
        }
        client.Connected = false;
        _clients.Remove(client);
        if (client.Attached)
        {
            Interlocked.Decrement(ref _partitionCount);
            _policy.Free(client);
            IicEventSource.Log.PartitionDetached(client.Name!, client.Credentials.Pid, reason);
            Log($"partition '{client.Name}' (pid {client.Credentials.Pid}) left: {reason}");
            if (Logger is { } logger)
            {
                HypervisorLog.Detached(logger, client.Name!, client.Credentials.Pid, reason);
            }
        }
        else
        {
            _unattached--;
        }
        foreach (var service in client.Services)
        {
            _services.Remove(service);
        }
        client.GroupedServices.Clear();
        client.Backlogs.Clear();
        _pending.RemoveAll(client);
        client.Outbound.Clear();
        var grants = client.Grants.ToArray();
        if (died && grants.Length > 0 && Logger is { } deathLogger)
        {
            HypervisorLog.Died(deathLogger, client.Name ?? "(unattached)", client.Credentials.Pid, grants.Length);
        }
        foreach (var grant in grants)
        {
            if (!_grants.TryGet(grant.Id, out _))
            {
                // Gone meanwhile: a PeerDied notice below detached a stalled survivor, and its Disconnect removed
                // (and unmapped) the grants it shared with this client. Touching this window now would fault.
                continue;
            }
            var side = grant.Listener == client ? 0 : 1;
            var survivor = side == 0 ? grant.Connector : grant.Listener;
            var survivorReleased = side == 0 ? grant.ConnectorReleased : grant.ListenerReleased;
            if (!_stopping)
            {
                // Wakes the survivor; a side that closed cleanly stays Closed (end of stream, not death). The window's
                // header is mapped for this alone (HeldWindow); if even that fails (ENOMEM), the survivor still gets its
                // PeerDied below and, for a partition that died, sees the death on the pidfd it watches itself.
                MarkDead(grant, side);
                IicEventSource.Log.PeerDied(grant.Service, client.Credentials.Pid);
                // PeerDied is informative (the window is marked and the survivor watches the pidfd itself): a burst of
                // them (a peer with thousands of grants died) is not allowed to fill a healthy survivor's queue to its
                // detach bound, so past half of it they are skipped.
                if (!survivorReleased && (survivor != grant.Listener || grant.ListenerHeard) && survivor.Connected && survivor != client
                    && survivor.Outbound.Count < _options.MaxOutboundMessagesPerPartition / 2)
                {
                    var notice = new ControlWriter(_sendBuffer, ControlMessageType.PeerDied, 0);
                    notice.WriteInt64(grant.Id);
                    notice.WriteUInt32((uint)client.Credentials.Pid);
                    Send(survivor, notice.Finish());
                }
            }
            RemoveGrant(grant);
        }
        client.Socket.Dispose();
        client.Process.Dispose();
    }

    private void MarkDead(GrantRecord grant, int side)
    {
        try
        {
            grant.Window.MarkDead(side);
        }
        catch (NativeException e)
        {
            IicEventSource.Log.ProtocolFault("hypervisor " + Name, Environment.ProcessId, $"connection {grant.Id}: side {side} could not be marked dead: {e.Message}");
            Log($"connection {grant.Id} to '{grant.Service}': side {side} could not be marked dead ({e.Message}); its peer is told by PeerDied");
        }
    }

    private void RemoveGrant(GrantRecord grant)
    {
        _grants.Remove(grant);
        Volatile.Write(ref _grantCount, _grants.Count);
    }

    private void ExpirePendingConnects()
    {
        var now = Stopwatch.GetTimestamp();
        while (_pending.TryTakeExpired(now, out var pending))
        {
            if (_services.TryGetValue(pending.Service, out var listener))
            {
                SendError(pending.Client, pending.RequestId, ControlError.NotAccepting, BusyReason(listener, pending.Service, waited: true));
            }
            else
            {
                SendError(pending.Client, pending.RequestId, ControlError.UnknownService, $"no partition offered service '{pending.Service}' within the connect timeout");
            }
        }
    }

    private void SendError(ControlClient client, uint requestId, ControlError error, string reason)
    {
        var writer = new ControlWriter(_sendBuffer, ControlMessageType.Error, requestId);
        writer.WriteUInt32((uint)error);
        writer.WriteString(reason.Length > 400 ? reason[..400] : reason);
        Send(client, writer.Finish());
    }

    private void Exhausted(string resource, string detail)
    {
        _windowPool.Pause(); // no refills while the process is short: the windows ready stay for grants of their size
        IicEventSource.Log.ProtocolFault("hypervisor " + Name, Environment.ProcessId, $"out of {resource}: {detail}");
        Log($"out of {resource}: {detail}");
        if (Logger is { } logger)
        {
            HypervisorLog.Exhausted(logger, resource, detail);
        }
    }
}
