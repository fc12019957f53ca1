using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>The sending role: one copy into the ring, claims written in place, fragmentation of messages larger than a record, and back pressure.</summary>
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>
    /// Sends one message (one copy, into the ring), waiting for room until <paramref name="deadline"/> or
    /// <paramref name="cancellationToken"/>. A fragmented message that runs out of time part-way is abandoned: an
    /// <see cref="RecordFraming.Abandon"/> record tells the receiver to discard what it gathered, so nothing partial
    /// is ever delivered.
    /// </summary>
    /// <param name="message">Up to <see cref="MaxMessageLength"/> bytes.</param>
    /// <param name="deadline">When to give up; <see cref="Deadline.Immediate"/> = do not wait.</param>
    /// <param name="cancellationToken">Also gives up (with <see cref="OperationCanceledException"/>).</param>
    /// <returns>False if the deadline passed first (nothing was delivered).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/>.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed.</exception>
    /// <exception cref="PeerDeadException">The peer died.</exception>
    /// <exception cref="OperationCanceledException">Cancelled first (nothing was delivered).</exception>
    /// <exception cref="RingFaultException">The shared state is corrupt.</exception>
    public bool Send(ReadOnlySpan<byte> message, Deadline deadline, CancellationToken cancellationToken = default)
    {
        EnterSending();
        // The common case runs without an exception handler (issue 17, round 8): with the try/finally around it, the JIT
        // kept this endpoint and the message in stack slots and reloaded them for every field access of the send, a chain
        // of dependent loads on every message. Nothing below can throw: the checks are loads, TryWriteFast never throws
        // (it declines instead; it copies up to a line inline, round 10), and the doorbell's one load of "armed" after the
        // publish is the Dekker load Ring would make (S3): not armed, nothing to do, and the message is counted with two
        // stores (the skipped doorbell is derived, Doorbell.CountUnarmedSend); armed, RingGuarded. Everything else (wrap,
        // full ring, fragments, misuse, faults, a peer gone) takes SendSlow, under the handler, as before.
        if (message.Length <= _writer.MaxPayloadLength
            && !PeerGone && !SelfDeclaredDead // acquire loads of words that only change at close or death
            && _writer.TryWriteFast(message, s_unfragmented))
        {
            if (!_doorbell.IsArmed)
            {
                _doorbell.CountUnarmedSend(message.Length);
            }
            else
            {
                RingGuarded(message.Length);
            }
            ExitSending();
            return true;
        }
        return SendSlow(message, deadline, cancellationToken);
    }

    /// <summary>
    /// <see cref="Send(ReadOnlySpan{byte}, Deadline, CancellationToken)"/>'s common case for the channel's lean entry (issue
    /// 17, round 13), which never throws, as <see cref="TryClaimFast"/> and <see cref="TryCommitFast"/>: enters the send role
    /// declining (not throwing) when disposed, then sends a message that fits one record, behind the cached head, without a
    /// wrap, to a reader that is not armed (TryWriteFast: one inline copy, the tail store, the publish). After the publish
    /// the doorbell's Dekker load (S3) as in Send's fast path: not armed, the message is counted with two stores; armed in
    /// between, one futex wake on a word of the mapping our in-flight flag holds, which cannot fault (as TryCommitFast).
    /// False (nothing sent, the send role left): a disposed endpoint, a message over one record, a peer gone, an armed
    /// reader (its usual doorbell goes through Send's guarded ring), an open claim, a fault, a wrap or a full ring; the
    /// caller then takes Send, which throws, waits or fragments as before.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="reply">The send answers a receive on this thread (<c>RoleGate.TakeReplyHint</c>): the line the message
    /// goes into is taken first (<see cref="RingWriter.TakeTailLineEarly"/>), before the checks.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TrySendFast(ReadOnlySpan<byte> message, bool reply = false)
    {
        // L2 as EnterSending: flag, then load _disposed (partner L1); declining instead of throwing.
        Volatile.Write(ref _sending.Value, 1);
        var open = Volatile.Read(ref _disposed) == 0; // read once, for the early store and the send
        if (reply && open)
        {
            _writer.TakeTailLineEarly(); // inside the send role, the mapping held: a store into free space
        }
        if (open
            && message.Length <= _writer.MaxPayloadLength
            && !PeerGone && !SelfDeclaredDead // acquire loads of words that only change at close or death
            && !_doorbell.IsArmed // the usual armed case rings under Send's handler (RingGuarded)
            && _writer.TryWriteFast(message, s_unfragmented))
        {
            if (!_doorbell.IsArmed) // the Dekker load after the publish (S3)
            {
                _doorbell.CountUnarmedSend(message.Length);
            }
            else
            {
                RingArmedInBetween(message.Length);
            }
            ExitSending();
            return true;
        }
        ExitSending();
        return false;
    }

    /// <summary>The reader armed between <see cref="TrySendFast"/>'s two loads of "armed": ring it (out of line, rare).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RingArmedInBetween(int length)
    {
        // One futex wake on a word of the mapping our in-flight flag holds, which cannot fault (as TryCommitFast).
        _doorbell.Ring();
        _doorbell.CountRungSend(length);
    }

    /// <summary>
    /// The doorbell for an armed reader (a futex wake), under a handler that leaves the send role if it throws; counts the
    /// message of <paramref name="length"/> bytes just published (Ring counts the signal).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RingGuarded(int length)
    {
        try
        {
            _doorbell.Ring();
            _doorbell.CountRungSend(length);
        }
        catch
        {
            ExitSending();
            throw;
        }
    }

    /// <summary>Everything but <see cref="Send(ReadOnlySpan{byte}, Deadline, CancellationToken)"/>'s fast path, inside the send role.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool SendSlow(ReadOnlySpan<byte> message, Deadline deadline, CancellationToken cancellationToken)
    {
        try
        {
            return SendCore(message, deadline, cancellationToken);
        }
        finally
        {
            ExitSending();
        }
    }

    /// <summary>Sends with a <see cref="Stopwatch"/> timestamp deadline (0 = do not wait, <see cref="long.MaxValue"/> = no limit), for tests and benchmarks.</summary>
    public bool Send(ReadOnlySpan<byte> message, long deadline) => Send(message, Deadline.AtTimestamp(deadline));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SendCore(ReadOnlySpan<byte> message, Deadline deadline, CancellationToken cancellationToken)
    {
        if (PeerGone || SelfDeclaredDead) // acquire loads of words that only change at close or death
        {
            ThrowPeerGone();
        }
        if (message.Length <= _writer.MaxPayloadLength)
        {
            if (!_writer.TryWrite(message, s_unfragmented))
            {
                if (!WaitForRoom(message.Length, deadline, cancellationToken))
                {
                    return false;
                }
                _writer.TryWrite(message, s_unfragmented);
            }
            _doorbell.Ring();
            _doorbell.CountRungSend(message.Length);
            return true;
        }
        return SendFragmented(message, deadline, cancellationToken);
    }

    /// <summary>
    /// Claims room for a one-record message of <paramref name="length"/> bytes to be written in place.
    /// </summary>
    /// <returns>False if there is no room now.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or above <see cref="MaxRecordPayloadLength"/>.</exception>
    /// <exception cref="InvalidOperationException">A claim is already open.</exception>
    public bool TryClaim(int length, out Span<byte> payload)
    {
        // An open claim counts as a send in progress until Commit or Abort: its span points into the mapping.
        EnterSending();
        try
        {
            if (TryClaimCore(length, out payload))
            {
                return true;
            }
        }
        catch
        {
            ExitSending();
            throw;
        }
        ExitSending();
        return false;
    }

    /// <summary>
    /// <see cref="TryClaim"/>'s common case without an exception handler (issue 17, round 9, as Send's since round 8):
    /// enters the send role and claims a record that fits behind the cached head without wrapping. Never throws: a
    /// disposed endpoint, a bad length, a peer gone, an open claim, a fault, a wrap or a full ring all decline (false,
    /// the send role left, nothing claimed), and the caller takes <see cref="TryClaim"/>, which throws or waits as before.
    /// On true the send role stays entered until <see cref="Commit"/> or <see cref="Abort"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryClaimFast(int length, out Span<byte> payload)
    {
        // L2 as EnterSending: flag, then load _disposed (partner L1); declining instead of throwing.
        Volatile.Write(ref _sending.Value, 1);
        if (Volatile.Read(ref _disposed) == 0
            && (uint)length <= (uint)_writer.MaxPayloadLength
            && !PeerGone // the cached state word (W4): an acquire load of a word that changes only at close or death
            && _writer.TryClaimFast(length, s_unfragmented, out payload))
        {
            _sent.OpenClaimLength = length;
            return true;
        }
        ExitSending();
        payload = default;
        return false;
    }

    /// <summary>
    /// <see cref="Commit"/>'s common case without an exception handler: publishes the open claim and leaves the send role
    /// when the endpoint is not disposed and this thread finds the reader not armed (then the doorbell is one load after
    /// the publish and the message two counts, as in Send's fast path; a reader that arms in between is woken by one
    /// futex wake on a word of the mapping our in-flight flag holds, which cannot fault). False (nothing done, the role still entered): take
    /// <see cref="Commit"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryCommitFast()
    {
        if (Volatile.Read(ref _disposed) != 0 || !_writer.HasOpenClaim || _doorbell.IsArmed)
        {
            return false;
        }
        _writer.CommitOpen(s_unfragmented); // open (looked at just above; the send role is ours, so it cannot change): cannot throw
        if (!_doorbell.IsArmed) // the Dekker load after the publish (S3), as in Send's fast path
        {
            _doorbell.CountUnarmedSend(_sent.OpenClaimLength);
        }
        else
        {
            // Armed in between: one futex wake on a word of the mapping our in-flight flag holds, which cannot fault.
            _doorbell.Ring();
            _doorbell.CountRungSend(_sent.OpenClaimLength);
        }
        ExitSending();
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // one caller; the claim is on the echo's hop
    private bool TryClaimCore(int length, out Span<byte> payload)
    {
        if ((uint)length > (uint)_writer.MaxPayloadLength) // one compare for both bounds: MaxPayloadLength is positive
        {
            ThrowClaimLength(length); // out of line: an interpolated message here put its handler in this method's frame
        }
        if (PeerGone) // the cached state word (W4), as Send reads it: no window lookup per claim
        {
            ThrowPeerGone();
        }
        if (!_writer.TryClaim(length, s_unfragmented, out payload))
        {
            return false;
        }
        _sent.OpenClaimLength = length;
        return true;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowClaimLength(int length) => throw new ArgumentOutOfRangeException(nameof(length), length, string.Create(CultureInfo.InvariantCulture,
        $"A claim must be 0 to {_writer.MaxPayloadLength} bytes (one record); send larger messages with Send, which fragments them."));

    /// <summary>Publishes the open claim.</summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // one caller (IicChannel.CommitClaim); between the payload and its publish
    public void Commit()
    {
        try
        {
            ThrowIfDisposed(); // the span stayed mapped while the claim was open; nothing is published after Dispose
            _writer.Commit(s_unfragmented);
            _doorbell.Ring();
            _doorbell.CountRungSend(_sent.OpenClaimLength);
        }
        finally
        {
            ExitSending();
        }
    }

    /// <summary>Abandons the open claim: nothing is delivered.</summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    public void Abort()
    {
        try
        {
            _writer.Abort();
        }
        finally
        {
            ExitSending();
        }
    }

    private bool SendFragmented(ReadOnlySpan<byte> message, Deadline deadline, CancellationToken cancellationToken)
    {
        if (message.Length > MaxMessageLength)
        {
            ThrowHelper.MessageTooLong(nameof(message), message.Length, MaxMessageLength);
        }
        // Fragments are a fraction of the ring (an eighth by default: FragmentRecordLength), so the writer fills one
        // slot while the reader copies out another; the first ends on a slot boundary so the rest never straddle the
        // ring's end. The receiver takes any fragment length: the wire format is the same as with whole records.
        var maxRecord = _writer.MaxPayloadLength + RecordHeader.Size;
        var fragmentRecord = FragmentRecordLength(_writer.Ring.Capacity, FragmentFraction);
        var chunk = fragmentRecord - RecordHeader.Size;
        var firstPayload = FirstFragmentRecordLength(_writer.Position, fragmentRecord, maxRecord) - RecordHeader.Size;
        var firstLength = firstPayload - RecordHeader.MessageLengthPrefixSize;
        Debug.Assert(firstPayload <= _writer.MaxPayloadLength && firstLength > 0 && firstLength < message.Length, "the first fragment is one record and leaves some of the message");
        // Every fragment but the last is written only when an Abandon record fits after it as well: a send that
        // runs out of time can then always tell the receiver, even if the receiver has stopped reading. A
        // header-only record takes one whole record line (records are line aligned), so that is the reserve.
        if (!_writer.HasRoomFor(firstPayload + AbandonReserve) && !WaitForFragmentRoom(firstPayload + AbandonReserve, deadline, cancellationToken))
        {
            return false; // nothing was written yet
        }
        _writer.TryClaim(firstPayload, (int)RecordFraming.Begin, out var first); // fits: room for a larger record was seen
        BinaryPrimitives.WriteInt64LittleEndian(first, message.Length);
        message[..firstLength].CopyTo(first[RecordHeader.MessageLengthPrefixSize..]);
        _writer.Commit((int)RecordFraming.Begin);
        _doorbell.Ring();
        var sent = firstLength;
        while (sent < message.Length)
        {
            var length = Math.Min(chunk, message.Length - sent);
            var last = sent + length == message.Length;
            var reserve = last ? 0 : AbandonReserve;
            if (_disposed != 0)
            {
                Abandon(); // disposed from another thread mid-message: end it cleanly for the peer
                ThrowIfDisposed();
            }
            if (!_writer.HasRoomFor(length + reserve))
            {
                bool room;
                try
                {
                    room = WaitForFragmentRoom(length + reserve, deadline, cancellationToken);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
                {
                    Abandon();
                    throw;
                }
                if (!room)
                {
                    Abandon();
                    return false;
                }
            }
            _writer.TryWrite(message.Slice(sent, length), (int)(last ? RecordFraming.End : RecordFraming.None));
            _doorbell.Ring();
            sent += length;
        }
        _doorbell.CountRungSend(message.Length);
        return true;
    }

    /// <summary>Room kept free after each non-final fragment for an Abandon record: one record line.</summary>
    private const int AbandonReserve = DescriptorRing.RecordAlignment;

    /// <summary>Ends the fragmented message in progress without delivering it (room for this record was kept free).</summary>
    private void Abandon()
    {
        _writer.TryWrite([], (int)RecordFraming.Abandon);
        _doorbell.Ring();
        AbandonedSends++;
    }

    /// <summary>
    /// Back pressure: waits until a record of <paramref name="payloadLength"/> fits. A busy-spinning channel keeps
    /// spinning; the others spin up to 50 µs, then sleep in the kernel until the reader returns space and wakes
    /// them (<see cref="RingWriter.WaitForRoom"/>: "room armed", the doorbell in the other direction), in slices
    /// of at most 10 ms so that a closed or dead peer, the deadline and the token are noticed. One record at a time
    /// (<paramref name="quietSpin"/> false) offers the CPU every 64 spin rounds, as a reader sharing it may be the one
    /// to free the space; a fragment (<paramref name="quietSpin"/> true, <see cref="WaitForFragmentRoom"/>) spins its
    /// 50 µs without offering it (the reader frees a slot within a few µs while both run), then a busy-spinning channel
    /// yields once and spins again.
    /// </summary>
    private bool WaitForRoom(int payloadLength, Deadline deadline, CancellationToken cancellationToken, bool quietSpin = false)
    {
        RingFullStalls++;
        var busy = _waiter.Strategy.Kind == WaitKind.BusySpin;
        var start = Stopwatch.GetTimestamp();
        var spinFor = busy && !quietSpin ? long.MaxValue : s_roomSpinTicks;
        var spins = 0;
        while (!_writer.HasRoomFor(payloadLength))
        {
            ThrowIfDisposed();
            if (PeerGone)
            {
                ThrowPeerGone();
            }
            cancellationToken.ThrowIfCancellationRequested();
            var now = Stopwatch.GetTimestamp();
            if (now >= deadline.Timestamp)
            {
                return false;
            }
            if (now - start < spinFor)
            {
                // Offer the CPU now and then (tens of µs): on a shared CPU the reader that frees space may be
                // waiting for it; sched_yield returns at once when nothing else wants it.
                Thread.SpinWait(20);
                if (!quietSpin && (++spins & 63) == 0)
                {
                    Thread.Yield();
                }
            }
            else if (busy)
            {
                Thread.Yield(); // a quiet spin ran out: a reader on this CPU gets it, then spin quietly again
                start = Stopwatch.GetTimestamp();
            }
            else
            {
                _writer.WaitForRoom(payloadLength, Math.Min(deadline.Timestamp, now + s_roomSliceTicks));
            }
        }
        return true;
    }

    private static readonly long s_roomSpinTicks = Stopwatch.Frequency / 20_000; // 50 µs
    private static readonly long s_roomSliceTicks = Stopwatch.Frequency / 100; // 10 ms

    /// <summary>
    /// Back pressure for an asynchronous sender (IicDuplexPipe's RoomWaiter): arms the ring's "room" wake and gives the
    /// futex word to sleep on, as <see cref="WaitForRoom"/> does before it sleeps. False, with nothing armed, when a record
    /// of <paramref name="payloadLength"/> fits now or this side or the peer ended (the next send says how). The caller
    /// must be the only sender, keep the window mapped while it sleeps (add-ref on <see cref="SharedWindow.Memory"/>) and
    /// call <see cref="DisarmRoomWait"/> after.
    /// </summary>
    /// <param name="payloadLength">The record that must fit.</param>
    /// <param name="firstArm">True for the first arm of a wait (counted as a ring-full stall, armed or not); false when re-arming.</param>
    /// <param name="target">The word to sleep on.</param>
    /// <exception cref="RingFaultException">The consumer's shared head is corrupt.</exception>
    internal bool TryArmRoomWait(int payloadLength, bool firstArm, out FutexWaitTarget target)
    {
        target = default;
        if (Volatile.Read(ref _disposed) != 0 || PeerGone || SelfDeclaredDead)
        {
            return false;
        }
        Volatile.Write(ref _sending.Value, 1); // EnterSending without its throw: a disposal racing us just ends the wait
        try
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return false;
            }
            if (firstArm)
            {
                RingFullStalls++; // the sender found the ring full, as WaitForRoom counts it, even if room comes before the arm
            }
            return _writer.TryArmRoom(payloadLength, out target);
        }
        finally
        {
            ExitSending();
        }
    }

    /// <summary>Ends a wait armed by <see cref="TryArmRoomWait"/> (the caller still holds its add-ref on the window).</summary>
    internal void DisarmRoomWait() => _writer.DisarmRoom();


    private void ThrowPeerGone()
    {
        if (SelfDeclaredDead)
        {
            throw new PeerDeadException("The hypervisor declared this side of the channel dead (its partition's control connection ended), so the peer no longer reads it: nothing more can be sent.");
        }
        var state = _window.ReadSideState(_peer); // read once (acquire): a Closed side's close reason is visible after it
        if (state == SideState.Dead)
        {
            throw new PeerDeadException("The peer partition died: nothing more can be sent.");
        }
        if (state == SideState.Closed && _window.ReadCloseReset(_peer))
        {
            // Round 25b: the send says so too (before, only the receive did), as a TCP send after a RST fails with ECONNRESET.
            throw new IicChannelClosedException("The peer reset the connection (its pipe or stream was closed with bytes nobody would read): nothing more can be sent.", peerReset: true);
        }
        throw new IicChannelClosedException("The peer closed the channel: nothing more can be sent.");
    }
}
