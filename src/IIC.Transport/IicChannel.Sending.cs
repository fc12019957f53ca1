using System.Buffers;
using IIC.Hardware;

namespace IIC.Transport;

// IicChannel, sending: copy, timeout, token and zero-copy claims, each through the send gate (RoleGate).
public sealed partial class IicChannel
{
    /// <summary>
    /// Sends one message: one copy, from <paramref name="message"/> into the ring the peer reads. Waits with
    /// back pressure while the ring is full; never drops.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/>.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed.</exception>
    /// <exception cref="PeerDeadException">The peer died.</exception>
    /// <exception cref="ObjectDisposedException">This side was disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is sending on a <see cref="ChannelOptions.SingleWriter"/> channel, or this thread holds an open claim.</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Send(ReadOnlySpan<byte> message)
    {
        // The lean fast path (issue 17, round 13, as TryClaim's of round 12): the send side's biased owner enters with no
        // thread static, static field or call (RoleGate.TryEnterOwnerFast), and a message that fits one record behind the
        // cached head is sent without an exception handler (WindowEndpoint.TrySendFast cannot throw), so this frame holds no
        // handler and no spilled locals. Everything else, out of line: a thread that is not the owner, misuse, a revoked
        // bias, the first entry (SendWithin, by the gate's full rules); a wrap, a full ring, an armed reader, a fragmented
        // message, a disposed channel or a peer gone (SendHolding, with the gate held), deciding and throwing as before.
        if (_sendGate.TryEnterOwnerFast())
        {
            if (_endpoint.TrySendFast(message, _sendGate.TakeReplyHint()))
            {
                _sendGate.Exit();
                return;
            }
            SendHolding(message, Native.Deadline.Infinite, default);
            return;
        }
        SendWithin(message, Native.Deadline.Infinite, default);
    }

    /// <summary>Sends one message if the ring has room for all of it now (and no other thread is sending).</summary>
    /// <returns>False when it would have to wait (nothing was sent).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The message can never be sent without waiting: it is larger than the ring; use <see cref="Send(ReadOnlySpan{byte})"/>.</exception>
    public bool TrySend(ReadOnlySpan<byte> message)
    {
        if (message.Length > _endpoint.MaxRecordPayloadLength)
        {
            ThrowHelper.TrySendTooLarge(nameof(message), message.Length, _endpoint.MaxRecordPayloadLength);
        }
        return SendWithin(message, Native.Deadline.Immediate, default);
    }

    /// <summary>
    /// Sends one message, waiting at most <paramref name="timeout"/> for room (and for other sending threads). A message
    /// larger than one record that runs out of time part-way is abandoned: the receiver discards its fragments.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="timeout">Zero to try once; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit.</param>
    /// <returns>False if it could not be sent in time (nothing was delivered).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    public bool TrySend(ReadOnlySpan<byte> message, TimeSpan timeout) => SendWithin(message, Native.Deadline.After(timeout, nameof(timeout)), default);

    /// <summary>Sends one message, waiting for room until it fits or <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <exception cref="OperationCanceledException">Cancelled before the message was sent (nothing was delivered; a fragmented message is abandoned).</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Send(ReadOnlySpan<byte> message, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Send's lean fast path (round 25): it never waits, so it need not look at the token; everything else waits for
        // room under the token, out of line, as before (it went there every time, also with room: SendWithin's full gate).
        if (_sendGate.TryEnterOwnerFast())
        {
            if (_endpoint.TrySendFast(message, _sendGate.TakeReplyHint()))
            {
                _sendGate.Exit();
                return;
            }
            SendHolding(message, Native.Deadline.Infinite, cancellationToken);
            return;
        }
        SendWithin(message, Native.Deadline.Infinite, cancellationToken);
    }

    private bool SendWithin(ReadOnlySpan<byte> message, Native.Deadline deadline, CancellationToken cancellationToken)
    {
        if (!_sendGate.Enter(Options.SingleWriter, GateRole.Send, deadline, this, cancellationToken))
        {
            return false;
        }
        _receiveGate.LearnOtherRoleOwner(in _sendGate); // once the send role has an owner (RoleGate.ReplyHint)
        return SendHolding(message, deadline, cancellationToken);
    }

    /// <summary>
    /// Sends holding the send gate, under a handler that releases it: the one place for <see cref="SendWithin"/> (after its
    /// entry) and for <see cref="Send(ReadOnlySpan{byte})"/> past its fast path (round 14: that had a copy of this handler,
    /// SendEntered). Out of line, so the inlined Send carries no handler.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool SendHolding(ReadOnlySpan<byte> message, Native.Deadline deadline, CancellationToken cancellationToken)
    {
        try
        {
            return _endpoint.Send(message, deadline, cancellationToken);
        }
        finally
        {
            _sendGate.Exit();
        }
    }

    /// <summary>
    /// Claims room for a message of <paramref name="length"/> bytes to be written in place (zero copy on the
    /// way in). The claim holds the send side: other threads' sends wait (or, on a SingleWriter channel, throw) until
    /// it is committed or aborted; commit or abort it before this thread sends or claims again.
    /// </summary>
    /// <returns>False when there is no room now, or another thread is sending.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or above <see cref="MaxClaimLength"/>.</exception>
    /// <exception cref="InvalidOperationException">A claim is already open on this thread, or another thread is sending on a SingleWriter channel.</exception>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool TryClaim(int length, out ChannelClaim claim)
    {
        // The lean fast path (issue 17, round 12): the send side's biased owner enters with no thread static, no static
        // field and no call (RoleGate.TryEnterOwnerFast), and a claim that fits is made without an exception handler (it
        // cannot throw); the claim is written once, where it is returned. Everything else, out of line: a thread that is
        // not the owner, misuse, a revoked bias, the first entry (TryClaimEntering); no room, a wrap, a bad length, a
        // disposed channel or a peer gone (TryClaimSlow, with the gate held).
        if (_sendGate.TryEnterOwnerFast())
        {
            if (_endpoint.TryClaimFast(length, out var fast))
            {
                claim = new ChannelClaim(this, fast, ++_claimGeneration);
                return true; // the gate stays held until Commit or Abort
            }
            return TryClaimSlow(length, out claim);
        }
        return TryClaimEntering(length, out claim);
    }

    /// <summary><see cref="TryClaim"/> when the lean entry declined: enters by the gate's full rules (waits for nobody, refuses misuse), then claims.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool TryClaimEntering(int length, out ChannelClaim claim)
    {
        if (!_sendGate.TryEnter(Options.SingleWriter, GateRole.Send))
        {
            claim = default;
            return false;
        }
        // The common case without an exception handler (it cannot throw); everything else under the handler below.
        if (_endpoint.TryClaimFast(length, out var fast))
        {
            claim = new ChannelClaim(this, fast, ++_claimGeneration);
            return true; // the gate stays held until Commit or Abort
        }
        return TryClaimSlow(length, out claim);
    }

    /// <summary><see cref="TryClaim"/> past its fast path, holding the send gate: claims under a handler that releases the gate if it throws.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool TryClaimSlow(int length, out ChannelClaim claim)
    {
        claim = default;
        bool claimed;
        try
        {
            claimed = _endpoint.TryClaim(length, out var span);
            if (claimed)
            {
                claim = new ChannelClaim(this, span, ++_claimGeneration);
                return true; // the gate stays held until Commit or Abort
            }
        }
        catch
        {
            _sendGate.Exit();
            throw;
        }
        _sendGate.Exit();
        return false;
    }

    internal void CommitClaim(long generation)
    {
        // The common case without an exception handler (it cannot throw): this claim is the open one (its generation, and
        // TryCommitFast finds a claim open: CheckClaim's two conditions, each looked at once). Everything else, with the
        // full check first, under the handler below.
        if (generation == Volatile.Read(ref _claimGeneration) && _endpoint.TryCommitFast())
        {
            _sendGate.Exit();
            return;
        }
        CommitClaimSlow(generation);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void CommitClaimSlow(long generation)
    {
        CheckClaim(generation);
        try
        {
            _endpoint.Commit();
        }
        finally
        {
            _sendGate.Exit();
        }
    }

    internal void AbortClaim(long generation)
    {
        CheckClaim(generation);
        try
        {
            _endpoint.Abort();
        }
        finally
        {
            _sendGate.Exit();
        }
    }

    /// <summary>
    /// A <see cref="ChannelClaim"/> is a struct: a stale copy of a finished claim must not commit or abort the
    /// claim opened after it. Each claim carries the number of its TryClaim; only the open one may finish.
    /// </summary>
    private void CheckClaim(long generation)
    {
        if (generation != Volatile.Read(ref _claimGeneration) || !_endpoint.HasOpenClaim)
        {
            ThrowHelper.ClaimFinished();
        }
    }

    /// <summary>Whether the send and receive roles are biased to the calling thread (tests of RoleGate's bias).</summary>
    internal (bool Send, bool Receive) RolesBiasedToCurrentThread =>
        (_sendGate.IsBiasedTo(Environment.CurrentManagedThreadId), _receiveGate.IsBiasedTo(Environment.CurrentManagedThreadId));

    /// <summary>Whether the next send answers a receive made on the send owner's thread (tests of RoleGate.ReplyHint).</summary>
    internal bool ReplyHintPending => _sendGate.ReplyHintPending;

    /// <summary>Whether the send role's owner is told by its stack (tests of RoleGate's owner test without a thread static).</summary>
    internal bool SendOwnerKnownByStack => _sendGate.OwnerKnownByStack;

    private long _claimGeneration;
    private RoleGate _sendGate;
    private RoleGate _receiveGate;
}
