using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>What the hypervisor says to a partition: replies to its requests, incoming grants and notices.</summary>
public sealed partial class Partition
{
    private void Dispatch(ReadOnlySpan<byte> message, List<FileDescriptor> descriptors)
    {
        var reader = new ControlReader(message);
        switch (reader.Type)
        {
            case ControlMessageType.Attached:
            {
                var id = reader.ReadUInt32();
                var pid = reader.ReadUInt32();
                reader.EnsureEnd();
                Complete(reader.RequestId, new Reply { PartitionId = id, PeerProcessId = (int)pid });
                break;
            }
            case ControlMessageType.Listening:
                reader.EnsureEnd();
                Complete(reader.RequestId, new Reply());
                break;
            case ControlMessageType.Error:
            {
                var code = (ControlError)reader.ReadUInt32();
                var reason = reader.ReadString(ControlProtocol.MaxMessageSize);
                if (_requests.TryRemove(reader.RequestId, out var completion))
                {
                    completion.TrySetException(new HypervisorException(code, $"Hypervisor '{HypervisorName}' refused: {reason} ({code})."));
                }
                break;
            }
            case ControlMessageType.Connected:
            case ControlMessageType.Incoming:
            {
                var id = reader.ReadInt64();
                var side = (int)reader.ReadUInt32();
                var peerPid = (int)reader.ReadUInt32();
                var service = reader.Type == ControlMessageType.Incoming ? reader.ReadString(ControlProtocol.MaxNameLength) : null;
                var peerName = reader.ReadString(ControlProtocol.MaxNameLength);
                reader.EnsureEnd();
                if (descriptors.Count is not (2 or 3) || side is not (0 or 1))
                {
                    throw new InvalidDataException($"A {reader.Type} message must carry a window, the peer's pidfd (and the peer's group page if it is grouped) and name side 0 or 1; got {descriptors.Count} descriptors and side {side}.");
                }
                GrantedConnection connection;
                SharedWindow? window = null;
                try
                {
                    window = SharedWindow.Open(descriptors[0]);
                    if (window.IsGrouped(side))
                    {
                        window.AttachGroup(side, Group);
                    }
                    if (window.IsGrouped(1 - side) != (descriptors.Count == 3))
                    {
                        throw new InvalidDataException("The grant's descriptors do not match the window: the peer's group page comes exactly when the peer receives through a group.");
                    }
                    if (descriptors.Count == 3)
                    {
                        window.AttachGroup(1 - side, InterruptGroup.Open(descriptors[2]), ownsGroup: true);
                    }
                    connection = new GrantedConnection(this, id, service ?? "", side, peerPid, peerName, window);
                    Interlocked.Increment(ref _openGrants);
                    // Our own watch on the peer's life (its pidfd came with the grant): death is seen without the hypervisor.
                    var peer = ProcessHandle.FromDescriptor(descriptors[1], peerPid);
                    connection.PeerWatch = PeerDeathWatcher.Shared.Watch(peer, window, 1 - side, window.IsGrouped(side) ? Group : null, () => RaisePeerDied(id, peerPid));
                }
                catch (InvalidDataException e)
                {
                    // A listener's Accept is not failed for one bad connection (it waits for the next), so say it here.
                    IicEventSource.Log.ProtocolFault(service ?? "hypervisor " + HypervisorName, peerPid, "refused a granted window: " + e.Message);
                    if (window is null)
                    {
                        descriptors[0].Dispose();
                    }
                    else
                    {
                        window.Dispose();
                    }
                    for (var i = 1; i < descriptors.Count; i++)
                    {
                        descriptors[i].Dispose(); // harmless if the group took it: Dispose is idempotent
                    }
                    Release(id, counted: false);
                    if (_requests.TryRemove(reader.RequestId, out var failed))
                    {
                        failed.TrySetException(new HypervisorException($"The granted window is invalid: {e.Message}", e));
                    }
                    return;
                }
                if (reader.Type == ControlMessageType.Incoming)
                {
                    IicEventSource.Log.PartitionAccepted(Name, service!, id, peerPid);
                    if (_listeners.TryGetValue(service!, out var listener))
                    {
                        listener.Deliver(connection);
                    }
                    else
                    {
                        connection.Dispose();
                    }
                }
                else if (!Complete(reader.RequestId, new Reply { Connection = connection }))
                {
                    connection.Dispose();
                }
                break;
            }
            case ControlMessageType.PeerDied:
            {
                var id = reader.ReadInt64();
                var pid = reader.ReadUInt32();
                reader.EnsureEnd();
                RaisePeerDied(id, (int)pid);
                break;
            }
            default:
                throw new InvalidDataException($"Unexpected message type {(ushort)reader.Type} from the hypervisor.");
        }
    }
}
