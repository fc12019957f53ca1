using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// Admits one thread at a time to a channel role (sending or receiving), the way System.Threading.Channels does:
/// by default other threads wait their turn; a channel made with <see cref="ChannelOptions.SingleWriter"/> or
/// <see cref="ChannelOptions.SingleReader"/> promised one thread, so a second one is misuse and is refused with an
/// <see cref="InvalidOperationException"/> instead of corrupting the ring.
/// <para>Cost: one interlocked compare-exchange to enter and one store to leave (uncontended). The holder is a
/// managed thread id, so the same thread entering twice (sending with a claim open, receiving from inside a Poll
/// handler) is recognised and refused rather than deadlocking. Not thread-affine on exit: a claim may be committed
/// by whichever code holds it.</para>
/// <para>Every role is biased (as a JVM biased lock): the first thread to enter becomes the owner, and from then on
/// enters with a plain store of "owner inside" and a load of "revoked", no locked instruction (G3), which would also
/// wait for the store buffer to drain (the previous message's publish and clears) before the channel could go on. Any
/// other thread that enters revokes the bias for good: it takes the holder word, stores "revoked", runs
/// <see cref="Interlocked.MemoryBarrierProcessWide"/> and only then looks at "owner inside" (G4): the asymmetric
/// Dekker pair L1/L2 already use, so either the owner's store is visible to it (a single role: misuse, refused; a
/// default role: it gives the holder word back and waits its turn) or the owner's next load sees "revoked" and takes
/// the compare-exchange path. A revocation costs one process-wide barrier, once per gate; a non-owner also loads
/// "owner inside" on each later entry (same line).</para>
/// <para>Which thread is the owner is told by its stack (round 10): the owner's stack bounds are recorded with its id,
/// and a thread whose local's address lies inside them is the owner (<see cref="ThreadStack"/>), a subtract and a
/// compare where the managed id costs a thread-static lookup on every entry. Without the bounds (libc cannot say, or
/// <c>IIC_GATE_OWNER_BY_STACK=0</c>) the id tells, as before.</para>
/// <para>Lives on a cache line of its own: the sending and the receiving thread each write theirs on every call.</para>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 2 * Smp.PaddedLineSize)]
internal unsafe partial struct RoleGate
{
    [FieldOffset(Smp.PaddedLineSize)]
    private int _holder; // managed thread id of the thread inside through the compare-exchange; 0 = free

    [FieldOffset(Smp.PaddedLineSize + 4)]
    private int _owner; // single roles: the biased thread's id, set once while it holds _holder; 0 = none yet

    [FieldOffset(Smp.PaddedLineSize + 8)]
    private int _ownerInside; // 1 while the owner is inside through the biased path

    [FieldOffset(Smp.PaddedLineSize + 12)]
    private int _revoked; // 1 once another thread entered: everyone uses the compare-exchange from then on

    [FieldOffset(Smp.PaddedLineSize + 16)]
    private int _entry; // how the party inside entered (written only after it is known to be alone): 1 biased, 2 holder

    [FieldOffset(Smp.PaddedLineSize + 24)]
    private nuint _ownerStackLow; // the owner's stack [low, low + size), set once with _owner (see OnOwnerStack)

    [FieldOffset(Smp.PaddedLineSize + 32)]
    private nuint _ownerStackSize; // 0: not known, the owner is told by its managed thread id

    /// <summary>Enters without waiting; false when another thread is inside (and <paramref name="single"/> is false).</summary>
    /// <exception cref="InvalidOperationException">Misuse: this thread is already inside, or another thread is inside a single-thread role.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter(bool single, GateRole role)
    {
        if ((single || s_biasDefaultRoles) && TryEnterAsOwner(single, role))
        {
            return true;
        }
        var me = CurrentThreadId;
        var holder = Interlocked.CompareExchange(ref _holder, me, 0); // G1 (docs/architecture.md): acquire; partner G2
        if (holder == 0)
        {
            return AfterEnterHolder(me, single, role);
        }
        ThrowIfMisuse(holder, me, single, role);
        return false;
    }

    /// <summary>
    /// The owner's entry and nothing else, for the claim's and the poll's lean fast paths (issue 17, round 12): true when
    /// the calling thread is the owner told by its stack, is not inside already (either way), the holder word is free and
    /// the bias is not revoked; then it is inside through the biased path (G3), as <see cref="TryEnter"/> would have let it
    /// in. False in every other case with nothing changed (or "inside" stored and taken back, as
    /// <see cref="TryEnterBiased"/> does when revoked): the caller then takes <see cref="TryEnter"/>, which decides as
    /// before (waits its turn, refuses misuse, records the owner). No thread static, no static field, no call: a load of
    /// the stack bounds, a subtract and a compare, three loads and two stores of this gate's line.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [SkipLocalsInit] // the marker's address is all that is used: no need to zero it
    public bool TryEnterOwnerFast()
    {
        // Acquire: pairs with RecordOwner's release store of the size, so _ownerStackLow is set when the size reads non-zero.
        // A size of 0 (not known yet, or told by the managed id) makes the unsigned compare false: declined.
        var size = Volatile.Read(ref _ownerStackSize);
        // As OnOwnerStack: a local of this frame lies in the stack of the thread running it, and live threads' stacks do
        // not overlap (ThreadStack), so the address is inside [low, low + size) exactly when this thread is the owner. Only
        // the address is used (never the byte, so it needs no value); it is compared, never dereferenced.
        byte marker;
        if ((nuint)(&marker) - _ownerStackLow >= size
            || Volatile.Read(ref _ownerInside) != 0 // this thread (the owner) is inside through the biased path: misuse, TryEnter throws
            || Volatile.Read(ref _holder) != 0) // the owner inside through the holder word (misuse), or another thread at the gate
        {
            return false;
        }
        Volatile.Write(ref _ownerInside, 1); // G3; partner G4's process-wide barrier orders this plain store
        if (Volatile.Read(ref _revoked) == 0)
        {
            _entry = BiasedEntry;
            return true;
        }
        Volatile.Write(ref _ownerInside, 0); // revoked: TryEnter takes the compare-exchange path like everyone else
        return false;
    }

    /// <summary>
    /// The owner's entry when the calling thread is the owner: told by where its stack is when the owner's stack is known
    /// (<see cref="OnOwnerStack"/>: no thread-static lookup, issue 17 round 10), else by its managed thread id as before.
    /// The two never both apply: once the stack is known, a thread is the owner exactly when it runs on that stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryEnterAsOwner(bool single, GateRole role)
    {
        if (Volatile.Read(ref _ownerStackSize) != 0) // acquire: pairs with RecordOwner's release; then _ownerStackLow and _owner are set
        {
            return OnOwnerStack() && TryEnterBiased(_owner, single, role);
        }
        var me = CurrentThreadId;
        return _owner == me && TryEnterBiased(me, single, role);
    }

    /// <summary>
    /// Whether the calling thread runs on the owner's stack, i.e. is the owner: the address of a local of this frame is in
    /// the stack of the thread running it, and live threads' stacks do not overlap (<see cref="ThreadStack"/>). One
    /// subtract and compare; false while the owner's stack is not known (size 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly bool OnOwnerStack()
    {
        byte marker = 0;
        return (nuint)(&marker) - _ownerStackLow < _ownerStackSize;
    }

    /// <summary>Whether the calling thread (of managed id <paramref name="me"/>) is the owner, by the same test as <see cref="TryEnterAsOwner"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly bool IsOwner(int me) => Volatile.Read(in _ownerStackSize) != 0 ? OnOwnerStack() : _owner == me;

    /// <summary>
    /// Makes the calling thread (holding <see cref="_holder"/>, the gate unowned) the owner: its id, then its stack bounds
    /// when libc gives them (low, then size with a release store: a thread that reads the size non-zero reads the low and
    /// the id too). Once per gate.
    /// </summary>
    private void RecordOwner(int me)
    {
        _owner = me; // we hold _holder and nobody owned the gate: no other thread sets it; the owner's own later reads see it
        if (s_ownerByStack && ThreadStack.TryGetCurrent(out var low, out var size))
        {
            _ownerStackLow = low;
            Volatile.Write(ref _ownerStackSize, size);
        }
    }

    /// <summary>
    /// Whether the owner is told by its stack (<c>IIC_GATE_OWNER_BY_STACK=0</c> in the environment: by its managed thread
    /// id through a thread static, as before round 10, for A/B runs).
    /// </summary>
    private static readonly bool s_ownerByStack = Environment.GetEnvironmentVariable("IIC_GATE_OWNER_BY_STACK") != "0";

    /// <summary>
    /// The calling thread's managed id, read through a thread static of our own: <see cref="Environment.CurrentManagedThreadId"/>
    /// is a call into the runtime (an FCALL that finds the thread with <c>__tls_get_addr</c>), paid on every send, claim,
    /// receive and poll entry; a [ThreadStatic] int costs the JIT's TLS lookup alone (measured here, a non-inlined call of
    /// each: 15-21 ns against 12-14 ns on the loaded 2-vCPU box; perf/RESULTS.md, "Round 8, branch poll"). A managed
    /// thread's id is fixed for its life and a new thread starts with 0 here, so the cached value is always the caller's
    /// own (issue 17, round 8).
    /// </summary>
    internal static int CurrentThreadId
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var id = t_threadId;
            return id != 0 ? id : CacheThreadId();
        }
    }

    [ThreadStatic]
    private static int t_threadId;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int CacheThreadId() => t_threadId = Environment.CurrentManagedThreadId;

    /// <summary>
    /// Whether default (multi-thread) roles are biased too; <c>IIC_BIAS_DEFAULT_ROLES=0</c> in the environment turns it
    /// off for A/B runs (a static readonly: the JIT folds it, so the switch costs nothing per entry).
    /// </summary>
    private static readonly bool s_biasDefaultRoles = Environment.GetEnvironmentVariable("IIC_BIAS_DEFAULT_ROLES") != "0";

    private const int BiasedEntry = 1;
    private const int HolderEntry = 2;

    /// <summary>G3: the owner's entry: plain store of "inside", then load "revoked"; partner G4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryEnterBiased(int me, bool single, GateRole role)
    {
        if (Volatile.Read(ref _ownerInside) != 0 || Volatile.Read(ref _holder) == me)
        {
            ThrowIfMisuse(me, me, single, role); // this thread is already inside (either way it entered)
        }
        Volatile.Write(ref _ownerInside, 1); // G3; partner G4's process-wide barrier orders this plain store
        if (Volatile.Read(ref _revoked) == 0)
        {
            _entry = BiasedEntry;
            return true;
        }
        Volatile.Write(ref _ownerInside, 0); // revoked: take the compare-exchange path like everyone else
        return false;
    }

    /// <summary>
    /// This thread took the holder word (G1). The first thread ever becomes the owner (biased from then on); any other
    /// thread revokes the bias for good (G4) and then makes sure the owner is not inside through the biased path: if it
    /// is, the holder word is given back and the entry fails (misuse on a single role, a turn to wait for otherwise).
    /// </summary>
    /// <returns>True when entered; false when the biased owner is inside (the holder word was given back).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool AfterEnterHolder(int me, bool single, GateRole role)
    {
        var owner = _owner;
        if (!IsOwner(me))
        {
            if (owner == 0)
            {
                if (!single && !s_biasDefaultRoles)
                {
                    _entry = HolderEntry; // A/B: default roles unbiased, as before round 6
                    return true;
                }
                RecordOwner(me);
            }
            else if (!RevokeAndCheckOwnerOutside(owner, me, single, role))
            {
                return false;
            }
        }
        _entry = HolderEntry; // known to be alone now
        return true;
    }

    /// <summary>
    /// G4: revoke the bias (once per gate: store, then flush every thread's stores, the owner's plain "inside"), then
    /// look at "owner inside", on every entry of a non-owner: an owner that entered before the revocation may still be
    /// inside (or, on a default role, enter a moment later and back off: a transient "inside" that just costs a retry).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RevokeAndCheckOwnerOutside(int owner, int me, bool single, GateRole role)
    {
        if (Volatile.Read(ref _revoked) == 0)
        {
            Volatile.Write(ref _revoked, 1);
            Interlocked.MemoryBarrierProcessWide();
        }
        if (Volatile.Read(ref _ownerInside) != 0) // acquire: pairs with the owner's release store on exit
        {
            Volatile.Write(ref _holder, 0);
            if (single)
            {
                ThrowIfMisuse(owner, me, single: true, role);
            }
            return false;
        }
        return true;
    }

    /// <summary>
    /// Enters, waiting for the thread inside to leave until <paramref name="deadline"/>, a cancellation or the
    /// channel's disposal.
    /// </summary>
    /// <returns>False when the deadline passed first.</returns>
    /// <exception cref="InvalidOperationException">Misuse (see <see cref="TryEnter"/>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">The channel was disposed while this thread waited.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Enter(bool single, GateRole role, Deadline deadline, IicChannel channel, CancellationToken cancellationToken)
    {
        if (single)
        {
            // A single role never waits for another thread: a second one inside is misuse, refused by TryEnter.
            return TryEnter(single: true, role);
        }
        if (s_biasDefaultRoles && TryEnterAsOwner(single: false, role))
        {
            return true;
        }
        var me = CurrentThreadId;
        var holder = Interlocked.CompareExchange(ref _holder, me, 0); // G1 (docs/architecture.md): acquire; partner G2
        if (holder == 0 && AfterEnterHolder(me, single: false, role))
        {
            return true;
        }
        return EnterContended(holder, me, role, deadline, channel, cancellationToken);
    }

    private bool EnterContended(int holder, int me, GateRole role, Deadline deadline, IicChannel channel, CancellationToken cancellationToken)
    {
        ThrowIfMisuse(holder, me, single: false, role);
        // Contended: the holder (or the biased owner) may be parked on an empty or full ring for a long time, so spin
        // briefly, then yield and sleep (SpinWait's schedule). Every round checks what this call promised to honour.
        var spin = new SpinWait();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ObjectDisposedException.ThrowIf(channel.IsDisposed, channel);
            if (deadline.HasPassed)
            {
                return false;
            }
            spin.SpinOnce();
            if (Volatile.Read(ref _holder) == 0 && Interlocked.CompareExchange(ref _holder, me, 0) == 0 // G1; partner G2
                && AfterEnterHolder(me, single: false, role))
            {
                return true;
            }
        }
    }

    /// <summary>Whether the role is biased to <paramref name="threadId"/> and not revoked (tests: the owner enters without a locked instruction).</summary>
    internal readonly bool IsBiasedTo(int threadId) => _owner == threadId && Volatile.Read(in _revoked) == 0;

    /// <summary>Whether the owner is told by its stack (tests: the stack lookup worked, so the owner's entry reads no thread static).</summary>
    internal readonly bool OwnerKnownByStack => Volatile.Read(in _ownerStackSize) != 0;

    /// <summary>Leaves (release store: everything done inside is visible to the next thread that enters).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        // (A claim may be committed on another thread than it was made.) _entry says how the one party inside came in;
        // a failed attempt of another thread (a transient "owner inside", or a holder taken and given back by a
        // revoker that found the owner inside) never writes it, so misuse cannot make us release the wrong word.
        if (_entry == BiasedEntry)
        {
            _entry = 0;
            Volatile.Write(ref _ownerInside, 0); // G2 (biased): release; partner G3 of the owner's next entry, G4's acquire load
            return;
        }
        Debug.Assert(_holder != 0, "a thread leaves only a gate it entered");
        _entry = 0;
        Volatile.Write(ref _holder, 0); // G2: release; partner G1 in the next thread to enter
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowIfMisuse(int holder, int me, bool single, GateRole role)
    {
        if (holder == me)
        {
            throw new InvalidOperationException(role == GateRole.Send
                ? "This thread already holds the channel's send side: commit or abort its open ChannelClaim before it sends or claims again."
                : "This thread is already receiving from the channel: a Poll handler cannot receive from the channel it is polling; return from the handler first.");
        }
        if (single)
        {
            throw new InvalidOperationException(role == GateRole.Send
                ? "Two threads sent on this channel at once, but it was made with ChannelOptions.SingleWriter = true: send from one thread at a time, or leave SingleWriter false (the default), which lets concurrent senders take turns."
                : "Two threads received from this channel at once, but it was made with ChannelOptions.SingleReader = true: receive on one thread at a time, or leave SingleReader false (the default), which lets concurrent receivers take turns.");
        }
    }
}

/// <summary>The role a <see cref="RoleGate"/> guards (for its messages).</summary>
internal enum GateRole
{
    Send,
    Receive,
}
