using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Client;

/// <summary>
/// The calls in flight on one client connection, by stream id: one lock per call (to number and register it); the
/// reader thread's lookups and every removal take none (a <see cref="StreamSlotTable{TCall}"/>). Ids are handed out in
/// order and an id whose slot is taken is skipped, so each live call has its own slot; the table doubles when every slot
/// is taken. Adds, doublings and the close all hold the lock.
/// </summary>
internal sealed class CallRegistry
{
    private readonly Lock _lock = new();
    private readonly StreamSlotTable<ClientCallBase> _table = new();
    private uint _lastStreamId;
    private Status? _closedStatus;

    /// <summary>Numbers <paramref name="call"/> and registers it; false (with the reason) once the connection ended.</summary>
    public bool TryAdd(ClientCallBase call, out uint streamId, out Status closedStatus)
    {
        lock (_lock)
        {
            if (_closedStatus is { } status)
            {
                streamId = 0;
                closedStatus = status;
                return false;
            }
            while (true)
            {
                var slots = _table.Slots;
                var mask = (uint)slots.Length - 1;
                for (var tries = 0; tries < slots.Length; tries++)
                {
                    var id = ++_lastStreamId;
                    if (id == 0)
                    {
                        id = ++_lastStreamId; // 0 is no stream: skipped when the counter wraps
                    }
                    ref var slot = ref slots[id & mask];
                    if (Volatile.Read(ref slot) is null)
                    {
                        call.StreamId = id;
                        Volatile.Write(ref slot, call); // published after its id
                        streamId = id;
                        closedStatus = default;
                        return true;
                    }
                }
                _table.Grow(slots);
            }
        }
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

    /// <summary>Ends registration with <paramref name="status"/> and takes every call in flight (each exactly once).</summary>
    public List<ClientCallBase> Close(Status status)
    {
        lock (_lock)
        {
            _closedStatus = status;
            return _table.TakeAll();
        }
    }
}
