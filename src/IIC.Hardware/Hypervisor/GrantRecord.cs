namespace IIC.Hardware;

/// <summary>One live grant: a window between a listener and a connector, and who has released it.</summary>
internal sealed class GrantRecord(long id, HeldWindow window, string service, ControlClient listener, ControlClient connector)
{
    public long Id { get; } = id;

    /// <summary>The window's file, held unmapped (HeldWindow).</summary>
    public HeldWindow Window { get; } = window;

    public string Service { get; } = service;

    public ControlClient Listener { get; } = listener;

    public ControlClient Connector { get; } = connector;

    /// <summary>The window's size, charged to the connector's partition and uid.</summary>
    public long Bytes => Window.Size;

    public bool ListenerReleased { get; set; }

    public bool ConnectorReleased { get; set; }

    /// <summary>
    /// Whether the listener was sent its <c>Incoming</c> (or is about to be: the listener-first order). False only
    /// while the connector is told first; a connector detached then takes the grant with it unannounced, so the
    /// listener gets no <c>PeerDied</c> for a connection it never heard of.
    /// </summary>
    public bool ListenerHeard { get; set; } = true;

    /// <summary>The page the listener receives through from the connector, when the listener's side is grouped.</summary>
    public PairGroup? ListenerPage { get; init; }

    public int ListenerVector { get; init; }

    /// <summary>The page the connector receives through from the listener, when the connector's side is grouped.</summary>
    public PairGroup? ConnectorPage { get; init; }

    public int ConnectorVector { get; init; }
}
