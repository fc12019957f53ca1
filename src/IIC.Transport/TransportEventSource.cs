using System.Diagnostics.Tracing;

namespace IIC.Transport;

/// <summary>
/// Trace events of the transport (<c>dotnet-trace collect --providers IIC-Transport</c>): channel life cycle,
/// peer death and protocol faults, with what a person needs to debug them.
/// </summary>
[EventSource(Name = "IIC-Transport")]
public sealed class TransportEventSource : EventSource
{
    /// <summary>The single instance.</summary>
    public static readonly TransportEventSource Log = new();

    private TransportEventSource()
    {
    }

    /// <summary>A channel end was opened.</summary>
    [Event(1, Level = EventLevel.Informational, Message = "Channel '{0}' side {1} opened in process {2}")]
    public void ChannelOpened(string service, int side, int processId) => WriteEvent(1, service, side, processId);

    /// <summary>A channel end was closed.</summary>
    [Event(2, Level = EventLevel.Informational, Message = "Channel '{0}' side {1} closed in process {2}")]
    public void ChannelClosed(string service, int side, int processId) => WriteEvent(2, service, side, processId);

    /// <summary>A channel's peer died.</summary>
    [Event(3, Level = EventLevel.Warning, Message = "Channel '{0}': peer process {1} died")]
    public void PeerDied(string service, int peerProcessId) => WriteEvent(3, service, peerProcessId);

    /// <summary>A channel faulted on corrupt shared state.</summary>
    [Event(4, Level = EventLevel.Error, Message = "Channel '{0}' faulted: {1}")]
    public void ProtocolFault(string service, string reason) => WriteEvent(4, service, reason);
}
