namespace IIC.Hardware;

/// <summary>
/// A window the hypervisor granted to this partition for one connection: which side is ours, who the peer is.
/// Open a channel on it (IicChannel in IIC.Transport), or use <see cref="Window"/> directly. Disposing it tells
/// the hypervisor the grant can be released and unmaps the window.
/// </summary>
public sealed class GrantedConnection : IDisposable
{
    private readonly Partition _partition;
    private int _disposed;

    internal GrantedConnection(Partition partition, long id, string service, int side, int peerProcessId, string peerName, SharedWindow window)
    {
        _partition = partition;
        Id = id;
        Service = service;
        Side = side;
        PeerProcessId = peerProcessId;
        PeerName = peerName;
        Window = window;
    }

    /// <summary>The hypervisor's id of the connection.</summary>
    public long Id { get; }

    /// <summary>The service connected to (on both sides: the connector's grant names no service, so Connect fills it in).</summary>
    public string Service { get; internal set; }

    /// <summary>Our side of the window: 0 for the listener, 1 for the connector.</summary>
    public int Side { get; }

    /// <summary>The peer partition's process id.</summary>
    public int PeerProcessId { get; }

    /// <summary>The peer partition's name.</summary>
    public string PeerName { get; }

    /// <summary>The window (sealed memfd, validated when received).</summary>
    public SharedWindow Window { get; }

    /// <summary>This partition's own watch on the peer's pidfd (marks the peer's side dead when it exits).</summary>
    internal IDisposable? PeerWatch { get; set; }

    /// <summary>Marks this side closed (the peer's receives end), releases the grant and unmaps the window (once nothing leases it any more).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Closed in the window first: a peer that holds the other side (the connector of a connection never accepted,
        // told of it before the listener) sees the end of its stream instead of waiting on a side nobody will open.
        Window.MarkClosed(Side);
        PeerWatch?.Dispose();
        _partition.Release(Id);
        Window.Dispose();
    }

    /// <summary>Hands the window to a new owner (a channel), releasing the grant (and the peer watch) when that owner is done.</summary>
    public Action DetachRelease()
    {
        Interlocked.Exchange(ref _disposed, 1);
        return () =>
        {
            PeerWatch?.Dispose();
            _partition.Release(Id);
        };
    }
}
