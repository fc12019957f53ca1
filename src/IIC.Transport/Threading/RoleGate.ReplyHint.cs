using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The reply hint (issue 17, round 21): whether the next send on the channel answers a receive made on the same thread,
/// so the send may take the line its message goes into before its checks (WindowEndpoint.TrySendFast, the early pre-own:
/// the peer, waiting for the reply, polls that line, and its fetch for ownership is on the round trip). A streaming
/// sender must not pay for that store (one-way rates fell 8 % when every send made it: perf/RESULTS.md "Round 21"), and
/// a receive on another thread must not touch the send side's line. So: the receive gate keeps a copy of the send
/// owner's stack bounds in its own line (set once, when the send role records its owner), a receive by the thread on that
/// stack sets the hint in the send gate's line (its own thread's line: no cross-core traffic), and the send takes it.
/// The hint only decides whether a store that is always safe is made early; a stale or wrong one costs a store. Since
/// round 22 a receive that waited on that thread also makes the store itself, at once (IicChannel.NoteReceive).
/// </summary>
internal unsafe partial struct RoleGate
{
    [FieldOffset(Smp.PaddedLineSize + 20)]
    private int _replyHint; // the send gate's: a receive by the send owner's thread set it, the next send takes it

    [FieldOffset(Smp.PaddedLineSize + 40)]
    private nuint _otherRoleOwnerStackLow; // the receive gate's: the send owner's stack [low, low + size), copied once

    [FieldOffset(Smp.PaddedLineSize + 48)]
    private nuint _otherRoleOwnerStackSize; // 0 until copied (or when the send owner's stack is not known)

    /// <summary>On the receive gate: copies <paramref name="sendGate"/>'s owner stack bounds once they are known (out of line paths only).</summary>
    public void LearnOtherRoleOwner(in RoleGate sendGate)
    {
        if (_otherRoleOwnerStackSize == 0 && Volatile.Read(in sendGate._ownerStackSize) is var size and not 0)
        {
            // Acquire above pairs with RecordOwner's release: the low bound is set. Low first, the size last (release):
            // a reader that sees the size sees the low bound.
            _otherRoleOwnerStackLow = sendGate._ownerStackLow;
            Volatile.Write(ref _otherRoleOwnerStackSize, size);
        }
    }

    /// <summary>
    /// On the receive gate, after a receive: true when the calling thread owns the send role (runs on its owner's stack: a
    /// local's address is compared, never dereferenced; live threads' stacks do not overlap, as in TryEnterOwnerFast).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [SkipLocalsInit]
    public readonly bool CallerOwnsOtherRole()
    {
        byte marker;
        return (nuint)(&marker) - _otherRoleOwnerStackLow < Volatile.Read(in _otherRoleOwnerStackSize);
    }

    /// <summary>On the send gate: a receive by the send owner's own thread happened; the next send answers it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetReplyHint()
    {
        if (_replyHint == 0)
        {
            _replyHint = 1;
        }
    }

    /// <summary>On the send gate: whether a hint waits (tests).</summary>
    internal readonly bool ReplyHintPending => _replyHint != 0;

    /// <summary>On the send gate, inside the send role: whether a receive on this thread came before this send (and clears it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TakeReplyHint()
    {
        if (_replyHint == 0)
        {
            return false;
        }
        _replyHint = 0;
        return true;
    }
}
