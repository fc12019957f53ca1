using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>
/// The calls in flight on one client connection, by stream id: one lock per call (to number and register it); the
/// reader thread's lookups and every removal take none (a <see cref="StreamSlotTable{TCall}"/>). Ids are handed out in
/// order and an id whose slot is taken is skipped, so each live call has its own slot; the table doubles when every slot
/// is taken. Adds, doublings and the close all hold the lock.
/// <para>It also keeps the server's limit on calls open at once (the Settings frame, docs/grpc-call-protocol.md 2.8):
/// a call holds one of the connection's slots from its add until the server can no longer count it (its trailers were
/// read, or its Cancel is in the ring); a call that finds every slot taken waits in a FIFO queue and gets the first slot
/// that frees (<see cref="ClientCallBase.StartQueued"/>), as SocketsHttpHandler queues requests above a connection's
/// SETTINGS_MAX_CONCURRENT_STREAMS. Slots and the queue change under the lock.</para>
/// <para>With more than one connection (<see cref="IicGrpcClientOptions.ConnectionCount"/>) the registries of an invoker's
/// connections share one <see cref="CallPool"/>: its lock and its queue, so a call goes to a connection with a free slot
/// (the one it was given, else the next that has one) and a call that found every slot of the pool taken starts on
/// whichever connection frees one first, FIFO across the pool, as SocketsHttpHandler serves a request queued for an HTTP/2
/// connection from any of its connections with room (docs/grpc-call-protocol.md 1).</para>
/// </summary>
internal sealed class CallRegistry
{
    private readonly Lock _lock;
    private readonly StreamSlotTable<ClientCallBase> _table = new();
    private readonly LinkedList<ClientCallBase> _waiting;
    private readonly ClientConnection? _owner;
    private readonly CallPool? _pool;
    private uint _lastStreamId;
    private Status? _closedStatus;
    private uint _limit = Frame.InitialMaxConcurrentCalls;
    private uint _open; // calls holding a slot
    private bool _draining; // the server said GoAway: once no call holds a slot, registration ends (DrainedStatus)

    /// <summary>What a call that meets a connection drained after the server's GoAway ends with: it was never sent, so it may be retried.</summary>
    internal static readonly Status DrainedStatus = new(StatusCode.Unavailable,
        "The server is stopping: it asked for no more calls on this connection (GoAway) and the connection closed; the call was not sent, so it can be retried.");

    /// <summary>A registry of its own (one connection; tests).</summary>
    public CallRegistry()
    {
        _lock = new Lock();
        _waiting = new LinkedList<ClientCallBase>();
    }

    /// <summary>The registry of <paramref name="owner"/>, one of the connections sharing <paramref name="pool"/> (null: none).</summary>
    public CallRegistry(ClientConnection owner, CallPool? pool)
    {
        _owner = owner;
        _pool = pool;
        _lock = pool?.Lock ?? new Lock();
        _waiting = pool?.Waiting ?? new LinkedList<ClientCallBase>();
    }

    /// <summary>What <see cref="TryAdd(ClientCallBase, bool, out Status)"/> did.</summary>
    public enum AddResult
    {
        /// <summary>Numbered, registered, holding a slot: send its CallStart now.</summary>
        Added,

        /// <summary>Every slot is taken: the call waits in the queue (or, not asked to queue, nothing changed).</summary>
        Full,

        /// <summary>The connection ended (the status says why): nothing changed.</summary>
        Closed,
    }

    /// <summary>
    /// Numbers <paramref name="call"/>, registers it and gives it a slot when one is free (<see cref="AddResult.Added"/>);
    /// else, with <paramref name="queue"/>, puts it at the end of the queue (<see cref="AddResult.Full"/>: it starts when
    /// <see cref="ClientCallBase.StartQueued"/> is called). Nothing changes once the connection ended. In a pool, a call
    /// this connection has no slot for (or ended) goes to the next live connection with one (<see cref="ClientCallBase.MoveTo"/>
    /// tells it, under the lock), and waits in the pool's queue while some connection of it lives.
    /// </summary>
    public AddResult TryAdd(ClientCallBase call, bool queue, out Status closedStatus)
    {
        AddResult added;
        var passedPeerGone = false;
        lock (_lock)
        {
            closedStatus = default;
            if (_closedStatus is null && _open < _limit && !PeerGone)
            {
                RegisterLocked(call);
                return AddResult.Added;
            }
            if (_pool is not null)
            {
                added = TryAddInPoolLocked(call, queue, out closedStatus, out passedPeerGone);
                if (!passedPeerGone)
                {
                    return added;
                }
            }
            else if (_closedStatus is { } status)
            {
                closedStatus = status;
                return AddResult.Closed;
            }
            else if (PeerGone)
            {
                // Its one connection lost its peer (a send found it gone) and its reader has not reached the end: a call
                // registered here would only fail its first try. It sent nothing: it starts again on a new connection.
                closedStatus = PeerGoneStatus;
                return AddResult.Closed;
            }
            else
            {
                if (queue)
                {
                    call.QueueNode = _waiting.AddLast(call);
                }
                return AddResult.Full;
            }
        }
        // A connection of the pool that lost its peer was passed over: its slot of the invoker connects again now (off the
        // pool's lock, never on the fast path), so the calls it would have taken get a new connection, not only the next
        // call whose round robin lands on that slot (IicCallInvoker.GetConnection).
        _owner!.Invoker?.ReplaceConnectionsWhosePeerIsGone();
        return added;
    }

    /// <summary>
    /// Whether a send on this registry's connection found the peer closed or dead (<see cref="Protocol.CallConnection.SendFoundPeerGone"/>,
    /// round 23) before its reader thread reached the end: no call is registered or granted a slot here from then on (round
    /// 24), as none is on a connection that ended. One read of a flag the connection holds: no lock, no allocation.
    /// </summary>
    private bool PeerGone => _owner is { SendFoundPeerGone: true };

    /// <summary>What a call that finds its one connection's peer gone before it registered starts again with (it was not sent).</summary>
    internal static readonly Status PeerGoneStatus = new(StatusCode.Unavailable,
        "The connection to the server ended (a send on it found the peer closed or dead); the call was not sent, so it can be retried.");


    /// <summary>
    /// This connection (of a pool) has no slot for <paramref name="call"/>, or ended, or lost its peer: the next live connection after it
    /// that has one takes it, passing over those that lost their peer (<paramref name="passedPeerGone"/>, round 24: before,
    /// such a connection took the call, whose first try then failed); else, with <paramref name="queue"/>, it waits in the
    /// pool's queue (while a connection of the pool lives; else <see cref="AddResult.Closed"/>, as one connection's end). Under the pool's lock.
    /// </summary>
    private AddResult TryAddInPoolLocked(ClientCallBase call, bool queue, out Status closedStatus, out bool passedPeerGone)
    {
        closedStatus = default;
        passedPeerGone = PeerGone;
        var live = _pool!.Live;
        var from = live.IndexOf(this); // -1 once this one ended: from the first
        for (var i = 1; i <= live.Count; i++)
        {
            var other = live[(from + i + live.Count) % live.Count];
            if (other == this)
            {
                continue;
            }
            if (other.PeerGone)
            {
                passedPeerGone = true; // live until its reader reaches the end, but a call there would only fail its first try
                continue;
            }
            if (other._open < other._limit)
            {
                other.RegisterLocked(call);
                call.MoveTo(other._owner!);
                return AddResult.Added;
            }
        }
        if (live.Count == 0)
        {
            closedStatus = _closedStatus ?? new Status(StatusCode.Unavailable, "The connection to the server ended.");
            return AddResult.Closed;
        }
        if (queue)
        {
            call.QueueNode = _waiting.AddLast(call);
        }
        return AddResult.Full;
    }

    /// <summary>
    /// Numbers and registers <paramref name="call"/> whatever the limit (it holds a slot all the same); false (with the
    /// reason) once the connection ended. Tests of the registry alone; connections use <see cref="TryAdd(ClientCallBase, bool, out Status)"/>.
    /// </summary>
    internal bool TryAdd(ClientCallBase call, out uint streamId, out Status closedStatus)
    {
        lock (_lock)
        {
            if (_closedStatus is { } status)
            {
                streamId = 0;
                closedStatus = status;
                return false;
            }
            RegisterLocked(call);
            streamId = call.StreamId;
            closedStatus = default;
            return true;
        }
    }

    /// <summary>Numbers and registers <paramref name="call"/>, holding a slot. Under the lock.</summary>
    private void RegisterLocked(ClientCallBase call)
    {
        while (true)
        {
            var slots = _table.Slots;
            var mask = (uint)slots.Length - 1;
            for (var tries = 0; tries < slots.Length; tries++)
            {
                var id = ++_lastStreamId;
                if (id == 0)
                {
                    id = ++_lastStreamId; // 0 is no stream (and the Settings frame's): skipped when the counter wraps
                }
                ref var slot = ref slots[id & mask];
                if (Volatile.Read(ref slot) is null)
                {
                    call.StreamId = id;
                    call.HoldsSlot = true;
                    _open++;
                    Volatile.Write(ref slot, call); // published after its id
                    return;
                }
            }
            _table.Grow(slots);
        }
    }

    /// <summary>
    /// Gives back <paramref name="call"/>'s slot (any thread; only the first time counts), and starts the first waiting call
    /// in its place. The caller makes sure the server counts the call no more: its trailers were read, or its Cancel is in
    /// the ring (or it never sent its CallStart).
    /// </summary>
    /// <returns>True when this was the last call of a draining connection (<see cref="BeginDrain"/>): registration has
    /// ended, and the caller closes the connection.</returns>
    public bool Release(ClientCallBase call)
    {
        ClientCallBase? granted;
        lock (_lock)
        {
            if (!call.HoldsSlot)
            {
                return false;
            }
            call.HoldsSlot = false;
            _open--;
            granted = GrantLocked();
            if (granted is null && EndIfDrainedLocked())
            {
                return true;
            }
        }
        granted?.StartQueued();
        return false;
    }

    /// <summary>
    /// The server sent GoAway: the calls registered or waiting go on (the server serves every CallStart it reads), and
    /// once none holds a slot and none waits, registration ends with <see cref="DrainedStatus"/>.
    /// </summary>
    /// <returns>True when that is now (no call at all): the caller closes the connection.</returns>
    public bool BeginDrain()
    {
        lock (_lock)
        {
            _draining = true;
            // In a pool, new calls go to the other connections (TryAddInPoolLocked walks the live ones); the pool's waiting
            // calls may still be granted a slot here as calls end (the server serves every CallStart until the close), so a
            // queue never waits for a connection that may not come. Idle (no call open) means none waits either: a waiting
            // call would have been granted the free slot.
            _pool?.Live.Remove(this);
            return EndIfDrainedLocked();
        }
    }

    /// <summary>Draining with no call holding a slot and none waiting: ends registration (a later add meets <see cref="DrainedStatus"/>). Under the lock.</summary>
    private bool EndIfDrainedLocked()
    {
        if (!_draining || _open != 0 || _waiting.Count != 0 || _closedStatus is not null)
        {
            return false;
        }
        _closedStatus = DrainedStatus;
        return true;
    }

    /// <summary>Takes <paramref name="call"/> out of the queue if it waits there (it ended first); whether it did.</summary>
    public bool Unqueue(ClientCallBase call)
    {
        lock (_lock)
        {
            if (call.QueueNode is not { } node)
            {
                return false;
            }
            _waiting.Remove(node);
            call.QueueNode = null;
            return true;
        }
    }

    /// <summary>The server's limit arrived (its Settings frame): the calls it leaves room for start.</summary>
    public void SetLimit(uint limit)
    {
        List<ClientCallBase>? granted = null;
        lock (_lock)
        {
            _limit = limit;
            if (_pool is not null && _closedStatus is null)
            {
                _pool.Live.Add(this); // from now on the pool's calls go to it too: never before its limit is known
            }
            while (GrantLocked() is { } call)
            {
                (granted ??= []).Add(call);
            }
        }
        if (granted is not null)
        {
            foreach (var call in granted)
            {
                call.StartQueued();
            }
        }
    }

    /// <summary>How many calls hold one of the connection's slots now (tests: a call that ended gave its slot back, also on a connection that ended).</summary>
    internal uint Open
    {
        get
        {
            lock (_lock)
            {
                return _open;
            }
        }
    }

    /// <summary>The limit now (tests).</summary>
    internal uint Limit
    {
        get
        {
            lock (_lock)
            {
                return _limit;
            }
        }
    }

    /// <summary>How many calls wait for a slot now (tests; in a pool, the pool's queue).</summary>
    internal int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>The first waiting call, numbered and registered with a slot, if a slot is free; else null. Under the lock.</summary>
    private ClientCallBase? GrantLocked()
    {
        // Not on a connection that lost its peer (round 24): the call would only fail its first try. The pool's other
        // connections grant it as they free slots or join (a new one's SetLimit), or this one's end hands it back.
        if (_closedStatus is not null || _open >= _limit || _waiting.First is not { } first || PeerGone)
        {
            return null;
        }
        _waiting.RemoveFirst();
        var call = first.Value;
        call.QueueNode = null;
        RegisterLocked(call);
        if (_pool is not null)
        {
            call.MoveTo(_owner!); // the pool's queue: it may have waited for another connection
        }
        return call;
    }

    /// <summary>The call registered under <paramref name="streamId"/>, or null (never registered, or ended). Lock-free.</summary>
    public ClientCallBase? Find(uint streamId) => _table.Find(streamId);

    /// <summary>Removes <paramref name="call"/> if it is registered (any thread, any number of times). Lock-free.</summary>
    public void Remove(ClientCallBase call) => _table.Remove(call);

    /// <summary>How many calls are registered now (tests: every call that ended left the registry). Counts the slots: not for hot paths.</summary>
    internal int Count
    {
        get
        {
            var slots = _table.Slots;
            var count = 0;
            for (var i = 0; i < slots.Length; i++)
            {
                if (Volatile.Read(ref slots[i]) is not null)
                {
                    count++;
                }
            }
            return count;
        }
    }

    /// <summary>Ends registration with <paramref name="status"/> and takes every call in flight and every waiting one (each exactly once; tests).</summary>
    internal List<ClientCallBase> Close(Status status)
    {
        var calls = Close(status, out var waiting);
        if (waiting is not null)
        {
            calls.AddRange(waiting);
        }
        return calls;
    }

    /// <summary>
    /// Ends registration with <paramref name="status"/> and takes every call in flight (registered: its CallStart may be in
    /// the ring) and, apart, in their FIFO order, every call waiting for a slot (<paramref name="waiting"/>, null when none:
    /// they sent nothing, so they may start again on another connection, docs/grpc-call-protocol.md 1). Each exactly once.
    /// </summary>
    public List<ClientCallBase> Close(Status status, out List<ClientCallBase>? waiting)
    {
        waiting = null;
        lock (_lock)
        {
            _closedStatus = status;
            var calls = _table.TakeAll();
            if (_pool is not null && (!_pool.Live.Remove(this) || _pool.Live.Count > 0))
            {
                return calls; // the pool's waiting calls wait on for its other connections (or it never joined: no Settings)
            }
            if (_waiting.Count != 0)
            {
                waiting = new List<ClientCallBase>(_waiting.Count);
                foreach (var call in _waiting)
                {
                    call.QueueNode = null;
                    waiting.Add(call);
                }
                _waiting.Clear();
            }
            return calls;
        }
    }
}

/// <summary>
/// What the registries of one invoker's connections share when it has more than one (<see cref="IicGrpcClientOptions.ConnectionCount"/>):
/// one lock, one FIFO queue of calls waiting for a slot on any of them, and the registries whose connection lives.
/// </summary>
internal sealed class CallPool
{
    /// <summary>The lock of every registry of the pool.</summary>
    public Lock Lock { get; } = new();

    /// <summary>The calls waiting for a slot on any connection of the pool, first come first served. Under <see cref="Lock"/>.</summary>
    public LinkedList<ClientCallBase> Waiting { get; } = new();

    /// <summary>The registries whose connection read its Settings frame and has not ended, in the order they came. Under <see cref="Lock"/>.</summary>
    public List<CallRegistry> Live { get; } = [];

    /// <summary>How many calls wait now (tests).</summary>
    public int WaitingCount
    {
        get
        {
            lock (Lock)
            {
                return Waiting.Count;
            }
        }
    }
}
