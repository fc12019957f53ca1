using IIC.Grpc.Protocol;

namespace IIC.Grpc.Server;

/// <summary>What a <see cref="ServerCallRegistry{TCall}"/> add did, and its bound.</summary>
internal static class ServerCallRegistry
{
    /// <summary>The most slots a client's ids can make the table grow to (8 MiB of references).</summary>
    public const int MaxSlots = 1 << 20;

    /// <summary>What <see cref="ServerCallRegistry{TCall}.TryAdd"/> did.</summary>
    public enum AddResult
    {
        /// <summary>Registered (or taken by a <see cref="ServerCallRegistry{TCall}.Close"/> that raced with the add, which tells the call).</summary>
        Added,

        /// <summary>A call with the same id is open: the client is broken.</summary>
        Duplicate,

        /// <summary>The registry was closed: the call was not registered and nobody told it.</summary>
        Closed,

        /// <summary>Its id collides with an open call's even at the most slots allowed: the client is broken.</summary>
        Collision,
    }
}

/// <summary>
/// The calls open on one server connection, by the stream id the client gave each. The connection's reader thread is
/// the only one that adds and looks up; a call removes itself from whatever thread ends it; <see cref="Close"/> may run
/// on any thread. Adding, finding and removing take no lock (the old dictionary took one to add and one to remove);
/// only a doubling of the table and <see cref="Close"/> do.
/// <para>A <see cref="StreamSlotTable{TCall}"/>, as the client's <c>CallRegistry</c>: the client numbers calls in
/// order and skips an id whose slot in its own table is taken, so the ids of its open calls differ in their low bits
/// and land in distinct slots here once this table is at least as large as the client's; a collision doubles the table
/// (up to <see cref="ServerCallRegistry.MaxSlots"/>, beyond which the client is broken or hostile). Doublings run under
/// the lock on the adding thread. An add publishes with a full fence and then reads the closed flag; <see cref="Close"/> sets the flag with a full fence and then empties the slots: at least one of them sees the
/// other, and the slot's exchange decides which one owns the call.</para>
/// </summary>
internal sealed class ServerCallRegistry<TCall>(int maxSlots = ServerCallRegistry.MaxSlots)
    where TCall : class, IStreamCall
{
    private readonly Lock _lock = new(); // doubling and closing only
    private readonly StreamSlotTable<TCall> _table = new();
    private int _closed;

    /// <summary>The number of slots now (tests).</summary>
    internal int SlotCount => _table.Slots.Length;

    /// <summary>Registers <paramref name="call"/> under its <see cref="IStreamCall.StreamId"/>. The reader thread only.</summary>
    public ServerCallRegistry.AddResult TryAdd(TCall call)
    {
        var id = call.StreamId;
        while (true)
        {
            var slots = _table.Slots; // replaced only by this thread (Grow)
            ref var slot = ref slots[id & ((uint)slots.Length - 1)];
            var present = Volatile.Read(ref slot);
            if (present is null)
            {
                Interlocked.Exchange(ref slot, call); // full fence: the call is visible before _closed is read
                if (Volatile.Read(ref _closed) == 0)
                {
                    return ServerCallRegistry.AddResult.Added;
                }
                // Close may have emptied this slot before the call landed in it: take the call back, unless Close took it.
                return Interlocked.CompareExchange(ref slot, null, call) == call ? ServerCallRegistry.AddResult.Closed : ServerCallRegistry.AddResult.Added;
            }
            if (present.StreamId == id)
            {
                return ServerCallRegistry.AddResult.Duplicate;
            }
            lock (_lock)
            {
                if (_closed != 0)
                {
                    return ServerCallRegistry.AddResult.Closed;
                }
                if (slots.Length >= maxSlots)
                {
                    return ServerCallRegistry.AddResult.Collision;
                }
                _table.Grow(slots);
            }
        }
    }

    /// <summary>The open call with <paramref name="streamId"/>, or null. Lock-free.</summary>
    public TCall? Find(uint streamId) => _table.Find(streamId);

    /// <summary>Removes <paramref name="call"/> if it is registered (any thread, any number of times). Lock-free.</summary>
    public void Remove(TCall call) => _table.Remove(call);

    /// <summary>Closes registration and takes every open call, each exactly once (any thread).</summary>
    public List<TCall> Close()
    {
        lock (_lock) // no doubling while the slots are emptied
        {
            Interlocked.Exchange(ref _closed, 1); // full fence: an add that missed the flag published before this
            return _table.TakeAll();
        }
    }
}
