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
                Complete(reader.RequestId, partitionId: id, peerProcessId: (int)pid);
                break;
            }
            case ControlMessageType.Listening:
                reader.EnsureEnd();
                Complete(reader.RequestId);
                break;
            case ControlMessageType.Error:
            {
                var code = (ControlError)reader.ReadUInt32();
                var reason = reader.ReadString(ControlProtocol.MaxMessageSize);
                FailRequest(reader.RequestId, new HypervisorException(code, $"Hypervisor '{HypervisorName}' refused: {reason} ({code})."));
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
                var pageId = reader.ReadInt64();
                reader.EnsureEnd();
                if (descriptors.Count is < 2 or > 4 || side is not (0 or 1))
                {
                    throw new InvalidDataException($"A {reader.Type} message must carry a window, the peer's pidfd and the group pages of its grouped sides, and name side 0 or 1; got {descriptors.Count} descriptors and side {side}.");
                }
                GrantedConnection connection;
                SharedWindow? window = null;
                InterruptGroup? ownGroup = null;
                try
                {
                    window = SharedWindow.Open(descriptors[0]);
                    ConnectTrace.Mark(ConnectStep.WindowOpened, side);
                    var ownGrouped = window.IsGrouped(side);
                    var peerGrouped = window.IsGrouped(1 - side);
                    if (descriptors.Count != 2 + (ownGrouped ? 1 : 0) + (peerGrouped ? 1 : 0) || ownGrouped != (pageId != 0))
                    {
                        throw new InvalidDataException($"The grant's descriptors do not match the window: {descriptors.Count} descriptors and page id {pageId} for a window whose own side is {(ownGrouped ? "" : "not ")}grouped and whose peer side is {(peerGrouped ? "" : "not ")}grouped.");
                    }
                    if (ownGrouped)
                    {
                        // The page we receive through from this peer alone (shared with our other connections to it).
                        ownGroup = _groupPages.Adopt(pageId, descriptors[2], id);
                        window.AttachGroup(side, ownGroup);
                    }
                    if (peerGrouped)
                    {
                        window.AttachGroup(1 - side, InterruptGroup.Open(descriptors[^1]), ownsGroup: true);
                    }
                    connection = new GrantedConnection(this, id, service ?? "", side, peerPid, peerName, window);
                    Interlocked.Increment(ref _openGrants);
                    // Our own watch on the peer's life (its pidfd came with the grant): death is seen without the hypervisor.
                    var peer = ProcessHandle.FromDescriptor(descriptors[1], peerPid);
                    connection.PeerWatch = PeerDeathWatcher.Shared.Watch(peer, this, peerName, window, 1 - side, ownGroup, () => RaisePeerDied(id, peerPid)); // one watch per peer process
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
                        descriptors[i].Dispose(); // harmless if a group took it: Dispose is idempotent
                    }
                    Release(id, counted: false); // also lets go of the page we adopted for it
                    if (reader.Type == ControlMessageType.Incoming && _listeners.TryGetValue(service!, out var refusedFor))
                    {
                        refusedFor.Dropped(); // it counted in the service's backlog
                    }
                    FailRequest(reader.RequestId, new HypervisorException($"The granted window is invalid: {e.Message}", e));
                    return;
                }
                ConnectTrace.Mark(ConnectStep.GrantQueued, side);
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
                else if (!Complete(reader.RequestId, connection: connection))
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
