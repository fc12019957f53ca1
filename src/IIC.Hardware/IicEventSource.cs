using System.Diagnostics.Tracing;

namespace IIC.Hardware;

/// <summary>
/// IICFast's trace events (<c>dotnet-trace collect --providers IIC-Transport</c>): partitions attaching and
/// leaving, services, grants, channel life cycle, peer death, policy denials and protocol faults, each with
/// the partition, service, pid and reason a person needs to debug it. One provider for every layer.
/// </summary>
[EventSource(Name = "IIC-Transport")]
public sealed class IicEventSource : EventSource
{
    /// <summary>The single instance.</summary>
    public static readonly IicEventSource Log = new();

    private IicEventSource()
    {
    }

    /// <summary>A hypervisor started.</summary>
    [Event(1, Level = EventLevel.Informational, Message = "Hypervisor '{0}' listening on {1} (pid {2})")]
    public void HypervisorStarted(string name, string socketPath, int processId) => WriteEvent(1, name, socketPath, processId);

    /// <summary>A partition attached to a hypervisor.</summary>
    [Event(2, Level = EventLevel.Informational, Message = "Partition '{0}' attached (pid {1}, uid {2})")]
    public void PartitionAttached(string partition, int processId, int userId) => WriteEvent(2, partition, processId, userId);

    /// <summary>A partition left (detached, hung up or died).</summary>
    [Event(3, Level = EventLevel.Informational, Message = "Partition '{0}' (pid {1}) left: {2}")]
    public void PartitionDetached(string partition, int processId, string reason) => WriteEvent(3, partition, processId, reason);

    /// <summary>A partition offers a service.</summary>
    [Event(4, Level = EventLevel.Informational, Message = "Service '{0}' offered by partition '{1}' (pid {2})")]
    public void ServiceListening(string service, string partition, int processId) => WriteEvent(4, service, partition, processId);

    /// <summary>The hypervisor granted a connection (a window) between two partitions.</summary>
    [Event(5, Level = EventLevel.Informational, Message = "Connection {1} to '{0}' granted: listener pid {2}, connector pid {3}")]
    public void ConnectionGranted(string service, long connectionId, int listenerProcessId, int connectorProcessId) => WriteEvent(5, service, connectionId, listenerProcessId, connectorProcessId);

    /// <summary>A partition died; its sides of its windows were marked dead.</summary>
    [Event(6, Level = EventLevel.Warning, Message = "Service '{0}': peer process {1} died")]
    public void PeerDied(string service, int processId) => WriteEvent(6, service, processId);

    /// <summary>The policy refused a partition's request.</summary>
    [Event(7, Level = EventLevel.Warning, Message = "Policy denied partition '{0}' (pid {1}): {2}")]
    public void PolicyDenied(string partition, int processId, string reason) => WriteEvent(7, partition, processId, reason);

    /// <summary>A peer broke a protocol (control message or shared-memory ring).</summary>
    [Event(8, Level = EventLevel.Error, Message = "Protocol fault from '{0}' (pid {1}): {2}")]
    public void ProtocolFault(string partitionOrService, int processId, string reason) => WriteEvent(8, partitionOrService, processId, reason);

    /// <summary>A channel end was opened.</summary>
    [Event(9, Level = EventLevel.Informational, Message = "Channel '{0}' side {1} opened in process {2}")]
    public void ChannelOpened(string service, int side, int processId) => WriteEvent(9, service, side, processId);

    /// <summary>A channel end was closed.</summary>
    [Event(10, Level = EventLevel.Informational, Message = "Channel '{0}' side {1} closed in process {2}")]
    public void ChannelClosed(string service, int side, int processId) => WriteEvent(10, service, side, processId);

    /// <summary>This partition's connect to a service was granted: it holds the connecting side of a new window.</summary>
    [Event(11, Level = EventLevel.Informational, Message = "Partition '{0}' connected to '{1}' (connection {2}, listener pid {3})")]
    public void PartitionConnected(string partition, string service, long connectionId, int peerProcessId) => WriteEvent(11, partition, service, connectionId, peerProcessId);

    /// <summary>A connection to a service this partition listens on arrived (accepted side of a new window).</summary>
    [Event(12, Level = EventLevel.Informational, Message = "Partition '{0}' accepted a connection to '{1}' (connection {2}, connector pid {3})")]
    public void PartitionAccepted(string partition, string service, long connectionId, int peerProcessId) => WriteEvent(12, partition, service, connectionId, peerProcessId);

    /// <summary>The hypervisor told this partition that the peer of one of its connections died.</summary>
    [Event(13, Level = EventLevel.Warning, Message = "Partition '{0}': the peer (pid {2}) of connection {1} died")]
    public void PartitionPeerDied(string partition, long connectionId, int peerProcessId) => WriteEvent(13, partition, connectionId, peerProcessId);

    /// <summary>A channel's shared ring broke the protocol (a <see cref="RingFaultException"/> was thrown in this process).</summary>
    [Event(14, Level = EventLevel.Error, Message = "Ring fault on '{0}' ring {1} in process {2}: {3}")]
    public void RingFault(string service, string ring, int processId, string reason) => WriteEvent(14, service, ring, processId, reason);
}
