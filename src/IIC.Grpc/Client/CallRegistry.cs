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
/// </summary>
internal sealed class CallRegistry
{
    private readonly Lock _lock = new();
    private readonly StreamSlotTable<ClientCallBase> _table = new();
    private readonly LinkedList<ClientCallBase> _waiting = new();
    private uint _lastStreamId;
    private Status? _closedStatus;
    private uint _limit = Frame.InitialMaxConcurrentCalls;
    private uint _open; // calls holding a slot
    private bool _draining; // the server said GoAway: once no call holds a slot, registration ends (DrainedStatus)

    /// <summary>What a call that meets a connection drained after the server's GoAway ends with: it was never sent, so it may be retried.</summary>
    internal static readonly Status DrainedStatus = new(StatusCode.Unavailable,
        "The server is stopping: it asked for no more calls on this connection (GoAway) and the connection closed; the call was not sent, so it can be retried.");

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
    /// <see cref="ClientCallBase.StartQueued"/> is called). Nothing changes once the connection ended.
    /// </summary>
    public AddResult TryAdd(ClientCallBase call, bool queue, out Status closedStatus)
    {
        lock (_lock)
        {
            if (_closedStatus is { } status)
            {
                closedStatus = status;
                return AddResult.Closed;
            }
            closedStatus = default;
            if (_open < _limit)
            {
                RegisterLocked(call);
                return AddResult.Added;
            }
            if (queue)
            {
                call.QueueNode = _waiting.AddLast(call);
            }
            return AddResult.Full;
        }
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

    /// <summary>How many calls wait for a slot now (tests).</summary>
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
        if (_closedStatus is not null || _open >= _limit || _waiting.First is not { } first)
        {
            return null;
        }
        _waiting.RemoveFirst();
        var call = first.Value;
        call.QueueNode = null;
        RegisterLocked(call);
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

    /// <summary>Ends registration with <paramref name="status"/> and takes every call in flight and every waiting one (each exactly once).</summary>
    public List<ClientCallBase> Close(Status status)
    {
        lock (_lock)
        {
            _closedStatus = status;
            var calls = _table.TakeAll();
            foreach (var waiting in _waiting)
            {
                waiting.QueueNode = null;
                calls.Add(waiting);
            }
            _waiting.Clear();
            return calls;
        }
    }
}
