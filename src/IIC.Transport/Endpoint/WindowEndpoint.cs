using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// One side of a <see cref="SharedWindow"/> at message level: it writes the ring its side owns and reads the
/// other, rings the peer's doorbell, waits with its <see cref="Waiter"/>, and fragments and reassembles
/// messages larger than a record. Thread safety: one sending thread and one receiving thread at a time (IicChannel's
/// role gates make sure of it).
/// <para>Fragments: a message that fits one record is one record flagged Begin|End. A larger one is a Begin
/// record whose payload starts with the whole message length (int64), zero or more middle records, and an End
/// record; the receiver checks the sequence and the running total against that length.</para>
/// <para>Roles, one file each: WindowEndpoint.Sender.cs (send, claim, fragment, back pressure),
/// WindowEndpoint.Receiver.cs (receive, poll, reassemble, end of stream), WindowEndpoint.Lifetime.cs (Dispose from any thread).</para>
/// </summary>
internal sealed unsafe partial class WindowEndpoint : IDisposable
{
    /// <summary>The largest message (1 GiB): messages are handed out as spans.</summary>
    public const long MaxMessageLength = 1L << 30;

    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    private readonly SharedWindow _window;
    private readonly bool _ownsWindow;
    private readonly int _side;
    private readonly int _peer;
    private readonly Native.MappingLease _lease;
    private readonly RingWriter _writer;
    private readonly RingReader _reader;
    private readonly Doorbell _doorbell;
    private readonly Waiter _waiter;

    private byte[]? _assembly;
    private int _assemblyLength;
    private int _assemblyFilled;
    private bool _assembling; // a fragmented message is in progress: gathered, or dropped while _discarding
    private bool _discarding; // the message in progress was refused (over _maxReceiveLength): WindowEndpoint.ReceiveLimit.cs
    private readonly long _maxReceiveLength;
    private readonly bool _grouped;
    private readonly bool _spinsBeforeClock; // see SpinBeforeClock
    private int _inGroup; // 1 while a GroupReceiver holds this (grouped) endpoint: it waits with the group, never alone
    private int _waitingAlone; // 1 while a thread waits on this grouped endpoint alone (JoinGroup's Dekker partner)
    private int _routedToGroup = 1; // our last route of the peer's raises (a grouped side starts routed to its group page)
    private readonly int* _peerState; // in the leased mapping: valid for this endpoint's life
    private readonly int* _ownState; // likewise; the hypervisor marks it Dead when it takes this partition for dead
    private int _disposed;
    private int _peerEnded; // a SideState once a receive reported the peer's end (sticky), else 0
    private bool _peerReset; // with _peerEnded Closed: the peer closed with a reset (its side block's close reason)
    private int _resetOnClose; // this side's close is a reset (ResetOnClose): stored as the side's close reason
    private int _released;
    private int _disposeStarted;
    private InFlightFlag _sending;
    private InFlightFlag _receiving;
    private InFlightFlag _closing; // Dispose's own use of the mapping

    /// <summary>Attaches to side <paramref name="side"/> of <paramref name="window"/>.</summary>
    /// <param name="window">The window.</param>
    /// <param name="side">0 or 1.</param>
    /// <param name="strategy">How the receiver waits.</param>
    /// <param name="ownsWindow">Dispose the window with this endpoint.</param>
    /// <param name="maxReceiveLength">The largest fragmented message it reassembles (<see cref="ChannelOptions.MaxReceiveMessageLength"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException">The side is not 0 or 1, or the limit is outside 0 to <see cref="MaxMessageLength"/>.</exception>
    public WindowEndpoint(SharedWindow window, int side, WaitStrategy strategy, bool ownsWindow = false, long maxReceiveLength = MaxMessageLength)
    {
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)side, 1u, nameof(side));
        ArgumentOutOfRangeException.ThrowIfNegative(maxReceiveLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxReceiveLength, MaxMessageLength);
        _maxReceiveLength = maxReceiveLength;
        _window = window;
        _ownsWindow = ownsWindow;
        _side = side;
        _peer = 1 - side;
        _lease = window.Lease();
        try
        {
            _writer = window.GetRing(side).CreateWriter();
            _reader = window.GetRing(_peer).CreateReader(); // throws RingFaultException on a head the peer corrupted
            // A grouped peer side is raised on its group page while in a group, on its own block while it waits alone.
            _doorbell = window.IsGrouped(_peer)
                ? new Doorbell(_writer, window.GetInterruptPage(_peer), window.GetVector(_peer), window.GetOwnInterruptPage(_peer), window.GroupMaskWord, _peer)
                : new Doorbell(_writer, window.GetInterruptPage(_peer), window.GetVector(_peer));
            // A grouped side waits with its group while a member; alone (out of any group) it sleeps on its own block,
            // which nobody else shares, so its waiter is the plain one-ring kind there.
            _grouped = window.IsGrouped(side);
            _spinsBeforeClock = SpinsFirst(strategy);
            _waiter = new Waiter(strategy, _grouped ? window.GetOwnInterruptPage(side) : window.GetInterruptPage(side));
            _peerState = window.SideStateWord(_peer);
            _ownState = window.SideStateWord(side);
        }
        catch
        {
            _lease.Dispose(); // else the mapping outlives the window's Dispose
            throw;
        }
        window.MarkAttached(side, Environment.ProcessId);
    }

    /// <summary>The window.</summary>
    public SharedWindow Window => _window;

    /// <summary>This endpoint's side.</summary>
    public int Side => _side;

    /// <summary>The receiver's waiter (strategy, learned state, counters).</summary>
    public Waiter Waiter => _waiter;

    /// <summary>The doorbell (signal counters).</summary>
    public Doorbell Doorbell => _doorbell;

    /// <summary>The largest message that travels as one record (and can be claimed).</summary>
    public int MaxRecordPayloadLength => _writer.MaxPayloadLength;

    /// <summary>Whether a claim is open (claimed and neither committed nor aborted).</summary>
    public bool HasOpenClaim => _writer.HasOpenClaim;

    /// <summary>Sends that found the ring full and had to wait.</summary>
    public long RingFullStalls { get; private set; }

    /// <summary>Fragmented sends that ran out of time or were cancelled part-way and were abandoned (nothing delivered).</summary>
    public long AbandonedSends { get; private set; }

    /// <summary>Fragmented messages the peer abandoned part-way, whose fragments were discarded.</summary>
    public long AbandonedReceives { get; private set; }

    /// <summary>Fragmented messages refused because they were over <see cref="ChannelOptions.MaxReceiveMessageLength"/>, whose fragments were dropped.</summary>
    public long RefusedReceives { get; private set; }

    /// <summary>Ring protocol faults raised on this endpoint (<see cref="RingFaultException"/>s thrown by its reader and writer).</summary>
    public long Faults => _reader.Faults + _writer.Faults;

    /// <summary>Bytes waiting in the outgoing ring.</summary>
    public long OutgoingOccupancy => _writer.Ring.Occupancy;

    /// <summary>The peer's state.</summary>
    public SideStatus Peer => _window.ReadSide(_peer);

    /// <summary>The interrupt block this endpoint sleeps on (for dispatchers that wait on behalf of async receivers).</summary>
    public InterruptPage ReceivePage => _waiter.Page; // a grouped side's own block: async waits happen out of any group

    /// <summary>True when a receive would not block: a record waits, or the peer closed or died, or this endpoint is disposed.</summary>
    public bool IsReceiveReady => _reader.HasData || PeerGone || _disposed != 0;

    /// <summary>The peer closed or died (any state word outside 0-3, written by a buggy peer, also reads as gone).</summary>
    private bool PeerGone => (uint)Volatile.Read(ref *_peerState) >= (uint)SideState.Closed; // W4: acquire; partner W5 (docs/architecture.md)

    /// <summary>The hypervisor declared this side dead (its partition's control connection ended): the peer no longer reads.</summary>
    private bool SelfDeclaredDead => Volatile.Read(ref *_ownState) == (int)SideState.Dead; // W4: acquire; partner W5

    /// <summary>
    /// Routes the peer's raises for this grouped side to its group page or its own block, unless the window is already
    /// released (the lease keeps the mapping while we write; safe against a Dispose on another thread). False if it was gone.
    /// </summary>
    internal bool TryRouteRaises(bool toGroupPage)
    {
        Volatile.Write(ref _routedToGroup, toGroupPage ? 1 : 0);
        return TryWithLease(toGroupPage ? static endpoint => endpoint._window.RouteRaises(endpoint._side, true) : static endpoint => endpoint._window.RouteRaises(endpoint._side, false));
    }

    private bool TryWithLease(Action<WindowEndpoint> write)
    {
        MappingLease lease;
        try
        {
            lease = _window.Lease();
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        using (lease)
        {
            write(this);
            return true;
        }
    }
}
