namespace IIC.Hardware;

/// <summary>The peer of a connection died.</summary>
public sealed class PeerDiedEventArgs(long connectionId, int peerProcessId) : EventArgs
{
    /// <summary>The connection.</summary>
    public long ConnectionId { get; } = connectionId;

    /// <summary>The dead peer's pid.</summary>
    public int PeerProcessId { get; } = peerProcessId;
}
