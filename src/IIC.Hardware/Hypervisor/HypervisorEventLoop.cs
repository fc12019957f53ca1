using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>The hypervisor's event loop: polls the listener, every partition's socket and pidfd, and dispatches.</summary>
public sealed partial class Hypervisor
{
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
            var process = ProcessHandle.Open(credentials.Pid);
            _clients.Add(new ControlClient(socket, process, credentials));
        }
        catch (Exception e) when (e is NativeException or InvalidOperationException)
        {
            Log($"dropped a connection whose process could not be identified: {e.Message}");
            socket.Dispose();
        }
    }

    private void ServeClient(ControlClient client)
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

    private void Handle(ControlClient client, ReadOnlySpan<byte> message)
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

    private void Disconnect(ControlClient client, string reason, bool died)
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

    private void TrySendError(ControlClient client, uint requestId, ControlError error, string reason)
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

}
