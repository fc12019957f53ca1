using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;

namespace IIC.Hardware;

/// <summary>
/// IICFast's trace events (<c>dotnet-trace collect --providers IIC-Transport</c>): partitions attaching and
/// leaving, services, grants, channel life cycle, peer death, policy denials and protocol faults, each with
/// the partition, service, pid and reason a person needs to debug it. One provider for every layer.
/// <para>Every event is written with <see cref="EventSource.WriteEventCore"/> and typed <see cref="EventSource.EventData"/>
/// (as the runtime's own event sources do), never with the <c>params object[]</c> <c>WriteEvent</c> overload: EventPipe
/// (dotnet-trace, dotnet-monitor, DiagnosticsClient sessions) dropped events written through that overload, while an
/// in-process <see cref="EventListener"/> still saw them. Each payload is serialised in declaration order, which is
/// the order of the event method's parameters (the manifest EventPipe readers decode by).</para>
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
    public void HypervisorStarted(string name, string socketPath, int processId)
    {
        if (IsEnabled())
        {
            Write(1, name, socketPath, processId);
        }
    }

    /// <summary>A partition attached to a hypervisor.</summary>
    [Event(2, Level = EventLevel.Informational, Message = "Partition '{0}' attached (pid {1}, uid {2})")]
    public void PartitionAttached(string partition, int processId, int userId)
    {
        if (IsEnabled())
        {
            Write(2, partition, processId, userId);
        }
    }

    /// <summary>A partition left (detached, hung up or died).</summary>
    [Event(3, Level = EventLevel.Informational, Message = "Partition '{0}' (pid {1}) left: {2}")]
    public void PartitionDetached(string partition, int processId, string reason)
    {
        if (IsEnabled())
        {
            Write(3, partition, processId, reason);
        }
    }

    /// <summary>A partition offers a service.</summary>
    [Event(4, Level = EventLevel.Informational, Message = "Service '{0}' offered by partition '{1}' (pid {2})")]
    public void ServiceListening(string service, string partition, int processId)
    {
        if (IsEnabled())
        {
            Write(4, service, partition, processId);
        }
    }

    /// <summary>The hypervisor granted a connection (a window) between two partitions.</summary>
    [Event(5, Level = EventLevel.Informational, Message = "Connection {1} to '{0}' granted: listener pid {2}, connector pid {3}")]
    public void ConnectionGranted(string service, long connectionId, int listenerProcessId, int connectorProcessId)
    {
        if (IsEnabled())
        {
            Write(5, service, connectionId, listenerProcessId, connectorProcessId);
        }
    }

    /// <summary>A partition died; its sides of its windows were marked dead.</summary>
    [Event(6, Level = EventLevel.Warning, Message = "Service '{0}': peer process {1} died")]
    public void PeerDied(string service, int processId)
    {
        if (IsEnabled())
        {
            Write(6, service, processId);
        }
    }

    /// <summary>The policy refused a partition's request.</summary>
    [Event(7, Level = EventLevel.Warning, Message = "Policy denied partition '{0}' (pid {1}): {2}")]
    public void PolicyDenied(string partition, int processId, string reason)
    {
        if (IsEnabled())
        {
            Write(7, partition, processId, reason);
        }
    }

    /// <summary>A peer broke a protocol (control message or shared-memory ring).</summary>
    [Event(8, Level = EventLevel.Error, Message = "Protocol fault from '{0}' (pid {1}): {2}")]
    public void ProtocolFault(string partitionOrService, int processId, string reason)
    {
        if (IsEnabled())
        {
            Write(8, partitionOrService, processId, reason);
        }
    }

    /// <summary>A channel end was opened.</summary>
    [Event(9, Level = EventLevel.Informational, Message = "Channel '{0}' side {1} opened in process {2}")]
    public void ChannelOpened(string service, int side, int processId)
    {
        if (IsEnabled())
        {
            Write(9, service, side, processId);
        }
    }

    /// <summary>A channel end was closed.</summary>
    [Event(10, Level = EventLevel.Informational, Message = "Channel '{0}' side {1} closed in process {2}")]
    public void ChannelClosed(string service, int side, int processId)
    {
        if (IsEnabled())
        {
            Write(10, service, side, processId);
        }
    }

    /// <summary>This partition's connect to a service was granted: it holds the connecting side of a new window.</summary>
    [Event(11, Level = EventLevel.Informational, Message = "Partition '{0}' connected to '{1}' (connection {2}, listener pid {3})")]
    public void PartitionConnected(string partition, string service, long connectionId, int peerProcessId)
    {
        if (IsEnabled())
        {
            Write(11, partition, service, connectionId, peerProcessId);
        }
    }

    /// <summary>A connection to a service this partition listens on arrived (accepted side of a new window).</summary>
    [Event(12, Level = EventLevel.Informational, Message = "Partition '{0}' accepted a connection to '{1}' (connection {2}, connector pid {3})")]
    public void PartitionAccepted(string partition, string service, long connectionId, int peerProcessId)
    {
        if (IsEnabled())
        {
            Write(12, partition, service, connectionId, peerProcessId);
        }
    }

    /// <summary>The hypervisor told this partition that the peer of one of its connections died.</summary>
    [Event(13, Level = EventLevel.Warning, Message = "Partition '{0}': the peer (pid {2}) of connection {1} died")]
    public void PartitionPeerDied(string partition, long connectionId, int peerProcessId)
    {
        if (IsEnabled())
        {
            Write(13, partition, connectionId, peerProcessId);
        }
    }

    /// <summary>A channel's shared ring broke the protocol (a <see cref="RingFaultException"/> was thrown in this process).</summary>
    [Event(14, Level = EventLevel.Error, Message = "Ring fault on '{0}' ring {1} in process {2}: {3}")]
    public void RingFault(string service, string ring, int processId, string reason)
    {
        if (IsEnabled())
        {
            Write(14, service, ring, processId, reason);
        }
    }

    /// <summary>
    /// A channel refused a fragmented message its peer announced over this side's receive limit
    /// (<c>ChannelOptions.MaxReceiveMessageLength</c>): its fragments are dropped, and the receive that met it throws
    /// <c>ReceiveLimitExceededException</c>. One per refused message, raised in the receiving process. Warning: the peer
    /// sent more than this side allows (a misconfigured limit, or a buggy or hostile peer).
    /// </summary>
    [Event(15, Level = EventLevel.Warning, Message = "Channel '{0}' side {1} in process {2} refused a message of {3} bytes, over its receive limit of {4} bytes")]
    public void MessageRefused(string service, int side, int processId, long messageLength, long limit)
    {
        if (IsEnabled())
        {
            Write(15, service, side, processId, messageLength, limit);
        }
    }

    // The writers below lay each argument out as EventData: a string as its UTF-16 characters plus the terminating
    // NUL (fixed: the GC cannot move it while WriteEventCore copies it), an integer as its bytes on this stack frame.
    // WriteEventCore copies the data synchronously, so the pointers only need to live for the call.

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, int b)
    {
        a ??= "";
        fixed (char* pa = a)
        {
            var data = stackalloc EventData[2];
            SetString(ref data[0], pa, a);
            SetValue(ref data[1], &b);
            WriteEventCore(eventId, 2, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, int b, int c)
    {
        a ??= "";
        fixed (char* pa = a)
        {
            var data = stackalloc EventData[3];
            SetString(ref data[0], pa, a);
            SetValue(ref data[1], &b);
            SetValue(ref data[2], &c);
            WriteEventCore(eventId, 3, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, int b, string? c)
    {
        a ??= "";
        c ??= "";
        fixed (char* pa = a, pc = c)
        {
            var data = stackalloc EventData[3];
            SetString(ref data[0], pa, a);
            SetValue(ref data[1], &b);
            SetString(ref data[2], pc, c);
            WriteEventCore(eventId, 3, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, string? b, int c)
    {
        a ??= "";
        b ??= "";
        fixed (char* pa = a, pb = b)
        {
            var data = stackalloc EventData[3];
            SetString(ref data[0], pa, a);
            SetString(ref data[1], pb, b);
            SetValue(ref data[2], &c);
            WriteEventCore(eventId, 3, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, long b, int c)
    {
        a ??= "";
        fixed (char* pa = a)
        {
            var data = stackalloc EventData[3];
            SetString(ref data[0], pa, a);
            SetValue(ref data[1], &b);
            SetValue(ref data[2], &c);
            WriteEventCore(eventId, 3, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, long b, int c, int d)
    {
        a ??= "";
        fixed (char* pa = a)
        {
            var data = stackalloc EventData[4];
            SetString(ref data[0], pa, a);
            SetValue(ref data[1], &b);
            SetValue(ref data[2], &c);
            SetValue(ref data[3], &d);
            WriteEventCore(eventId, 4, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, string? b, long c, int d)
    {
        a ??= "";
        b ??= "";
        fixed (char* pa = a, pb = b)
        {
            var data = stackalloc EventData[4];
            SetString(ref data[0], pa, a);
            SetString(ref data[1], pb, b);
            SetValue(ref data[2], &c);
            SetValue(ref data[3], &d);
            WriteEventCore(eventId, 4, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, string? b, int c, string? d)
    {
        a ??= "";
        b ??= "";
        d ??= "";
        fixed (char* pa = a, pb = b, pd = d)
        {
            var data = stackalloc EventData[4];
            SetString(ref data[0], pa, a);
            SetString(ref data[1], pb, b);
            SetValue(ref data[2], &c);
            SetString(ref data[3], pd, d);
            WriteEventCore(eventId, 4, data);
        }
    }

    [NonEvent]
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only strings and integers: primitive payloads are trim safe.")]
    private unsafe void Write(int eventId, string? a, int b, int c, long d, long e)
    {
        a ??= "";
        fixed (char* pa = a)
        {
            var data = stackalloc EventData[5];
            SetString(ref data[0], pa, a);
            SetValue(ref data[1], &b);
            SetValue(ref data[2], &c);
            SetValue(ref data[3], &d);
            SetValue(ref data[4], &e);
            WriteEventCore(eventId, 5, data);
        }
    }

    private static unsafe void SetString(ref EventData data, char* chars, string value)
    {
        data.DataPointer = (nint)chars;
        data.Size = (value.Length + 1) * sizeof(char); // with the NUL that fixed on a string guarantees
    }

    private static unsafe void SetValue<T>(ref EventData data, T* value)
        where T : unmanaged
    {
        data.DataPointer = (nint)value;
        data.Size = sizeof(T);
    }
}
