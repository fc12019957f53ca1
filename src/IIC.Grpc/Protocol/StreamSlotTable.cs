namespace IIC.Grpc.Protocol;

/// <summary>A call a <see cref="StreamSlotTable{TCall}"/> keeps: known by its stream id on the connection.</summary>
internal interface IStreamCall
{
    /// <summary>The call's stream id (fixed before the call is put in a table).</summary>
    uint StreamId { get; }
}

/// <summary>
/// The calls of one connection by stream id, in a table indexed by the id's low bits (docs/grpc-call-protocol.md): the
/// client numbers calls in order and skips an id whose slot is taken, so each live call has its own slot; the table
/// doubles when a new id finds its slot taken. The client's and the server's registries keep their own add rules on top.
/// <para>Lock-free parts: a lookup reads the table and the slot once each (<see cref="Volatile"/>) and checks the call's
/// id (a call is published after its id is set). A removal clears its slot with a compare-and-swap on the current table
/// and retries on the new one if the table was replaced meanwhile; a doubling, after publishing the new table, clears
/// there every call that left the old one while it copied (a removal that ran entirely before the publication is seen by
/// that scan: the publication is a full fence).</para>
/// <para>The owner guarantees that adds (its writes to <see cref="Slots"/>) and <see cref="Grow"/> never run at the same
/// time, nor <see cref="Grow"/> and <see cref="TakeAll"/> (one adding thread, or a lock); an add racing with
/// <see cref="TakeAll"/> is the owner's to settle (the server's closed flag).</para>
/// </summary>
internal sealed class StreamSlotTable<TCall>
    where TCall : class, IStreamCall
{
    private const int InitialSlots = 16;

    private TCall?[] _slots = new TCall?[InitialSlots];

    /// <summary>The current table, for an add (the caller's slot writes are the only adds; see the class remarks).</summary>
    public TCall?[] Slots => Volatile.Read(ref _slots);

    /// <summary>The call registered under <paramref name="streamId"/>, or null (never registered, or ended). Lock-free.</summary>
    public TCall? Find(uint streamId)
    {
        var slots = Volatile.Read(ref _slots);
        var call = Volatile.Read(ref slots[streamId & ((uint)slots.Length - 1)]);
        return call is not null && call.StreamId == streamId ? call : null;
    }

    /// <summary>Removes <paramref name="call"/> if it is registered (any thread, any number of times). Lock-free.</summary>
    public void Remove(TCall call)
    {
        var id = call.StreamId;
        while (true)
        {
            var slots = Volatile.Read(ref _slots);
            Interlocked.CompareExchange(ref slots[id & ((uint)slots.Length - 1)], null, call);
            if (ReferenceEquals(Volatile.Read(ref _slots), slots))
            {
                return; // a doubling that copied the call before our swap clears it in the new table (see Grow)
            }
        }
    }

    /// <summary>Doubles the table <paramref name="old"/>: ids that differ in the old mask's bits differ in the new one's too.</summary>
    public void Grow(TCall?[] old)
    {
        var grown = new TCall?[old.Length * 2];
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
            // i or i + old.Length. No call was added meanwhile (adds never run with a doubling).
            for (var index = (uint)i; index < grown.Length; index += (uint)old.Length)
            {
                if (Volatile.Read(ref grown[index]) is { } stale && (stale.StreamId & ((uint)old.Length - 1)) == (uint)i)
                {
                    Interlocked.CompareExchange(ref grown[index], null, stale);
                }
            }
        }
    }

    /// <summary>Empties the table, taking every call in it, each exactly once (a racing removal or the owner's add-back gets the rest).</summary>
    public List<TCall> TakeAll()
    {
        var calls = new List<TCall>();
        var slots = Volatile.Read(ref _slots);
        for (var i = 0; i < slots.Length; i++)
        {
            if (Interlocked.Exchange(ref slots[i], null) is { } call)
            {
                calls.Add(call);
            }
        }
        return calls;
    }
}
