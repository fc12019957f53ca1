using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>
/// The sender's side of the IIC for one ring: after each publish it raises the receiver's vector, but only if
/// the receiver armed the ring (it may be sleeping). While the receiver spins, the doorbell costs one load of a
/// line that only changes when the receiver arms or disarms: no syscall, no shared write, and no fence of its own
/// (the writer's publish is an interlocked exchange, the full fence the handshake needs, or, when the receiver
/// issues a global membarrier after arming, a plain release store whose missing fence that membarrier supplies).
/// Not thread safe: it belongs to the ring's single writer.
/// </summary>
public sealed unsafe class Doorbell
{
    private readonly int* _armed;
    private readonly InterruptPage _receiverPage;
    private readonly int _vector;
    private readonly InterruptPage? _ownPage; // a grouped receiver's own block, raised while the routing bit is clear
    private readonly uint* _routing;
    private readonly uint _routingBit;

    /// <summary>Creates the doorbell of <paramref name="writer"/>'s ring, raising <paramref name="vector"/> on <paramref name="receiverPage"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The vector is outside the page.</exception>
    public Doorbell(RingWriter writer, InterruptPage receiverPage, int vector)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(receiverPage);
        ArgumentOutOfRangeException.ThrowIfNegative(vector);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(vector, receiverPage.VectorCount);
        _armed = writer.Armed;
        _receiverPage = receiverPage;
        _vector = vector;
    }

    /// <summary>
    /// The doorbell of a ring whose receiver is grouped: it raises <paramref name="vector"/> on the group page while
    /// <paramref name="routingBit"/> is set in <paramref name="routing"/> (the window's group mask: the receiver is in a
    /// channel group), else vector 0 of <paramref name="ownPage"/>, the receiver's own block (it waits alone). The word is
    /// read only when the ring is armed, after the armed flag: the receiver stores the route before it arms (a full
    /// fence), so a doorbell that sees the arm sees the route.
    /// </summary>
    internal Doorbell(RingWriter writer, InterruptPage groupPage, int vector, InterruptPage ownPage, uint* routing, int routingBit)
        : this(writer, groupPage, vector)
    {
        ArgumentNullException.ThrowIfNull(ownPage);
        _ownPage = ownPage;
        _routing = routing;
        _routingBit = 1u << routingBit;
    }

    /// <summary>Doorbells that woke a sleeping receiver (futex_wake calls).</summary>
    public long SignalsRaised { get; private set; }

    /// <summary>Doorbells skipped because the receiver was spinning or already had a pending raise.</summary>
    /// <remarks>
    /// Counted by <see cref="Ring"/>, plus the sends of <see cref="CountUnarmedSend"/> (a sender's fast path that found
    /// the receiver not armed itself and so never called Ring): their number is derived, messages counted here less
    /// those whose doorbell went through Ring (<see cref="CountRungSend"/>), so such a send stores two counts, not three.
    /// </remarks>
    public long SignalsSuppressed => _suppressed + (_messages - _messagesRungThroughRing);

    private long _suppressed;

    // The sender's per-message counts (issue 17, round 10), kept in this object of the ring's single writer: a send
    // whose fast path found the receiver not armed stores these two and nothing for the skipped doorbell.
    private long _messages;
    private long _bytes;
    private long _messagesRungThroughRing;
    private LinePairPadding _trailingPadding; // ends the object: the next one (the endpoint's waiter) is the receiving thread's

    /// <summary>Bytes from the per-message counts to the trailing padding (tests: positive = the padding comes after them).</summary>
    internal long CountsToTrailingPadding()
    {
        ref var padding = ref Unsafe.As<LinePairPadding, byte>(ref _trailingPadding);
        return Math.Min(
            Math.Min((long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _messages), ref padding), (long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _bytes), ref padding)),
            Math.Min((long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _suppressed), ref padding), (long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _messagesRungThroughRing), ref padding)));
    }

    /// <summary>Messages counted by <see cref="CountUnarmedSend"/> and <see cref="CountRungSend"/> (the endpoint's messages sent).</summary>
    internal long MessagesCounted => _messages;

    /// <summary>Payload bytes of those messages.</summary>
    internal long BytesCounted => _bytes;

    /// <summary>
    /// Whether the receiver armed this ring (one load of the armed word). A sender's fast path calls it right after its
    /// publish in place of <see cref="Ring"/> (the same Dekker load, S3: see Ring), then rings through Ring only when it
    /// reads true; when false it counts the message with <see cref="CountUnarmedSend"/> and the skip is derived.
    /// </summary>
    internal bool IsArmed
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *_armed) != 0;
    }

    /// <summary>Counts a message whose sender published it and found the receiver not armed (<see cref="IsArmed"/> false), never calling <see cref="Ring"/>: one suppressed signal, derived.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void CountUnarmedSend(long bytes)
    {
        _messages++;
        _bytes += bytes;
    }

    /// <summary>Counts a message whose doorbells (one per record) went through <see cref="Ring"/>, which counted them.</summary>
    internal void CountRungSend(long bytes)
    {
        _messages++;
        _bytes += bytes;
        _messagesRungThroughRing++;
    }

    /// <summary>Rings the doorbell after a publish (call it only right after the writer published: its fence is the publish's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Ring()
    {
        // Dekker, sender half (S3): the length store of the publish must be ordered before this load of armed. A
        // release store alone does not order store->load (not even on x64). Either the publish was an interlocked
        // exchange (S1/S2, partner R1: the reader's exchange of armed), or it was a plain release store and the
        // reader supplies the fence: it stores armed, then membarrier(GLOBAL_EXPEDITED) runs a full barrier on
        // this CPU, then it re-reads the length word (S1', partner R1'; see RingWriter.PublishLength).
        if (Volatile.Read(ref *_armed) == 0)
        {
            _suppressed++;
            return;
        }
        RingArmed();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RingArmed()
    {
        // A grouped receiver out of its group sleeps on its own block (the route is read once; a peer that flips it only
        // misroutes its own channel's wake-ups).
        var raised = _ownPage is not null && (Volatile.Read(ref *_routing) & _routingBit) == 0
            ? _ownPage.Raise(0)
            : _receiverPage.Raise(_vector);
        if (raised)
        {
            SignalsRaised++;
        }
        else
        {
            _suppressed++;
        }
    }
}
