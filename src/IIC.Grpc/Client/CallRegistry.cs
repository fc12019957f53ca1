using Grpc.Core;

namespace IIC.Grpc.Client;

/// <summary>
/// The calls in flight on one client connection, by stream id: one lock per call (to number and register it); the
/// reader thread's lookups and every removal take none. A slot table indexed by the stream id's low bits: ids are handed
/// out in order and an id whose slot is taken is skipped, so each live call has its own slot; the table doubles when
/// every slot is taken.
/// <para>Lock-free parts: a lookup reads the table and the slot once each (<see cref="Volatile"/>) and checks the
/// call's id (a call is published after its id is set). A removal clears its slot with a compare-and-swap on the
/// current table and retries on the new one if the table was replaced meanwhile; a doubling, after publishing the new
/// table, clears there every call that left the old one while it copied (a removal that ran entirely before the
/// publication is seen by that scan: the publication is a full fence).</para>
/// </summary>
internal sealed class CallRegistry
{
    private const int InitialSlots = 16;

    private readonly Lock _lock = new();
    private ClientCallBase?[] _slots = new ClientCallBase?[InitialSlots];
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
                var slots = _slots;
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
                Grow(slots);
            }
        }
    }

    /// <summary>The call registered under <paramref name="streamId"/>, or null (never registered, or ended). Lock-free.</summary>
    public ClientCallBase? Find(uint streamId)
    {
        var slots = Volatile.Read(ref _slots);
        var call = Volatile.Read(ref slots[streamId & ((uint)slots.Length - 1)]);
        return call is not null && call.StreamId == streamId ? call : null;
    }

    /// <summary>Removes <paramref name="call"/> if it is registered (any thread, any number of times). Lock-free.</summary>
    public void Remove(ClientCallBase call)
    {
        var index = call.StreamId;
        while (true)
        {
            var slots = Volatile.Read(ref _slots);
            Interlocked.CompareExchange(ref slots[index & ((uint)slots.Length - 1)], null, call);
            if (ReferenceEquals(Volatile.Read(ref _slots), slots))
            {
                return; // a doubling that copied the call before our swap clears it in the new table (see Grow)
            }
        }
    }

    /// <summary>Ends registration with <paramref name="status"/> and takes every call in flight (each exactly once).</summary>
    public List<ClientCallBase> Close(Status status)
    {
        var calls = new List<ClientCallBase>();
        lock (_lock)
        {
            _closedStatus = status;
            var slots = _slots;
            for (var i = 0; i < slots.Length; i++)
            {
                if (Interlocked.Exchange(ref slots[i], null) is { } call)
                {
                    calls.Add(call);
                }
            }
        }
        return calls;
    }

    /// <summary>Doubles the table (under the lock): ids that differ in the old mask's bits differ in the new one's too.</summary>
    private void Grow(ClientCallBase?[] old)
    {
        var grown = new ClientCallBase?[old.Length * 2];
        var mask = (uint)grown.Length - 1;
        for (var i = 0; i < old.Length; i++)
        {
            if (Volatile.Read(ref old[i]) is { } call)
            {
                grown[call.StreamId & mask] = call;
            }
        }
        Interlocked.Exchange(ref _slots, grown); // full fence: removals that missed the new table happened before this
        for (var i = 0; i < old.Length; i++)
        {
            if (Volatile.Read(ref old[i]) is not null)
            {
                continue;
            }
            // Removed while we copied (the remover may have swapped only the old table and returned): its copy sits at
            // i or i + old.Length. No call was registered meanwhile (that takes the lock we hold).
            for (var index = (uint)i; index < grown.Length; index += (uint)old.Length)
            {
                if (Volatile.Read(ref grown[index]) is { } stale && (stale.StreamId & ((uint)old.Length - 1)) == (uint)i)
                {
                    Interlocked.CompareExchange(ref grown[index], null, stale);
                }
            }
        }
    }
}
