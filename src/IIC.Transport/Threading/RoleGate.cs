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
/// <para>Lives on a cache line of its own: the sending and the receiving thread each write theirs on every call.</para>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 2 * Smp.PaddedLineSize)]
internal struct RoleGate
{
    [FieldOffset(Smp.PaddedLineSize)]
    private int _holder; // managed thread id of the thread inside; 0 = free

    /// <summary>Enters without waiting; false when another thread is inside (and <paramref name="single"/> is false).</summary>
    /// <exception cref="InvalidOperationException">Misuse: this thread is already inside, or another thread is inside a single-thread role.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter(bool single, GateRole role)
    {
        var me = Environment.CurrentManagedThreadId;
        var holder = Interlocked.CompareExchange(ref _holder, me, 0); // G1 (docs/architecture.md): acquire; partner G2
        if (holder == 0)
        {
            return true;
        }
        ThrowIfMisuse(holder, me, single, role);
        return false;
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
        var me = Environment.CurrentManagedThreadId;
        var holder = Interlocked.CompareExchange(ref _holder, me, 0); // G1 (docs/architecture.md): acquire; partner G2
        return holder == 0 || EnterContended(holder, me, single, role, deadline, channel, cancellationToken);
    }

    private bool EnterContended(int holder, int me, bool single, GateRole role, Deadline deadline, IicChannel channel, CancellationToken cancellationToken)
    {
        ThrowIfMisuse(holder, me, single, role);
        // Contended: the holder may be parked on an empty or full ring for a long time, so spin briefly, then yield
        // and sleep (SpinWait's schedule). Every round checks what this call promised to honour.
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
            if (Volatile.Read(ref _holder) == 0 && Interlocked.CompareExchange(ref _holder, me, 0) == 0) // G1; partner G2
            {
                return true;
            }
        }
    }

    /// <summary>Leaves (release store: everything done inside is visible to the next thread that enters).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        Debug.Assert(_holder != 0, "a thread leaves only a gate it entered"); // (a claim may be committed on another thread than it was made)
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
