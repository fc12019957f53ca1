using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>The receiving role: copy-out receives and their waits, and the end of the stream (fragment reassembly: WindowEndpoint.Reassembly.cs).</summary>
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>
    /// Receives one message into <paramref name="destination"/>, waiting until <paramref name="deadline"/>.
    /// </summary>
    /// <returns>True with the message length; false if nothing arrived by the deadline.</returns>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="RingFaultException">The shared state is corrupt.</exception>
    public bool TryReceive(Span<byte> destination, out int length, long deadline) => TryReceive(destination, out length, Deadline.AtTimestamp(deadline));

    /// <summary>Receives one message into <paramref name="destination"/>, waiting until <paramref name="deadline"/>.</summary>
    /// <returns>True with the message length; false if nothing arrived by the deadline.</returns>
    public bool TryReceive(Span<byte> destination, out int length, Deadline deadline)
    {
        EnterReceiving();
        try
        {
            ThrowIfPeerEnded();
            if (!deadline.IsImmediate)
            {
                BeginWaitAlone();
            }
            while (true)
            {
                if (TryReceiveNow(destination, out length, deadline))
                {
                    return true;
                }
                var target = new ReadTarget(this);
                if (deadline.IsImmediate || !_waiter.Wait(ref target, deadline.Timestamp))
                {
                    return false;
                }
                ThrowIfDisposed(); // disposed from another thread while we waited
            }
        }
        finally
        {
            EndWaitAlone();
            ExitReceiving();
        }
    }

    /// <summary>
    /// The common case of a copy-out receive without an exception handler (issue 17, round 9, as Send's fast path): enters
    /// the receive role, and if a whole one-record message waits at the head (or, when <paramref name="timeout"/> says the wait would start with it, arrives
    /// within the clock-free first spin: round 10, so a receive that finds the ring empty no longer goes through the two
    /// handlers of the old path to spin) and fits <paramref name="destination"/>, copies it out, consumes it (lazily, as
    /// TryReceiveNow) and counts it. Never throws: a disposed endpoint, a peer that ended, a message in reassembly, nothing
    /// in time, padding, a fragment, a record the reader would fault on or a buffer too small all decline (false, the role
    /// left, nothing consumed; see <see cref="TryEnterWithRecord(bool, out ReadOnlySpan{byte}, out int)"/>), and the caller takes the old path, which throws,
    /// waits or reassembles as before. (The lazy consume's head store may wake a writer sleeping on a full ring: a futex
    /// wake on a word of the mapping our in-flight flag holds, which cannot fault.)
    /// </summary>
    /// <param name="destination">Where the message is copied.</param>
    /// <param name="length">The message length (0 when declined).</param>
    /// <param name="timeout">The caller's validated timeout: the ring found empty, the fast path spins clock-free for a message when a wait of this long would start with that spin (<see cref="SpinsFirstFor"/>); zero never spins.</param>
    /// <param name="looks">When true, the looks the spin took to see the message (0: it was there at once): how long the peer took to answer.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryReceiveFast(Span<byte> destination, out int length, TimeSpan timeout, out int looks)
    {
        if (TryEnterWithRecord(SpinsFirstFor(timeout), out var payload, out looks))
        {
            if (payload.Length <= destination.Length)
            {
                // Inline up to a line (round 21: the call to Memmove sat between seeing the message and the caller's reply).
                SmallCopy.Copy(payload, ref System.Runtime.InteropServices.MemoryMarshal.GetReference(destination));
                _reader.ConsumePeekedLazily(); // TryEnterWithRecord peeked it with TryPeekFast
                length = payload.Length;
                Count(length);
                ExitReceiving();
                return true;
            }
            ExitReceiving();
        }
        length = 0;
        return false;
    }

    /// <summary>
    /// Receives one message, waiting until it arrives or <paramref name="cancellationToken"/> is cancelled. The receiver
    /// sleeps until rung: the token's cancellation rings this endpoint's own block (<see cref="InterruptPage.WakeAlways"/>),
    /// and the wait target counts the token as ready, so a cancel ends the wait at once and an idle receive never wakes
    /// (it used to wake every 10 ms to look at the token). A message still arriving in fragments when the token is
    /// cancelled is kept for the next receive, as when a deadline passes.
    /// </summary>
    /// <returns>The message length.</returns>
    /// <exception cref="OperationCanceledException">Cancelled before a message arrived (also when it was cancelled before the call).</exception>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Receive(Span<byte> destination, CancellationToken cancellationToken)
    {
        EnterReceiving();
        try
        {
            ThrowIfPeerEnded();
            BeginWaitAlone();
            // The callback runs only while registered, and the registration is disposed (waiting for a callback that is
            // running) before this call leaves the receive role: the block it rings stays mapped.
            using var registration = cancellationToken.UnsafeRegister(static state => ((WindowEndpoint)state!)._waiter.Page.WakeAlways(), this);
            _receiveCancellation = cancellationToken; // for a fragmented message's wait (ReceiveFragments)
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (TryReceiveNow(destination, out var length, Deadline.Infinite))
                {
                    return length;
                }
                cancellationToken.ThrowIfCancellationRequested(); // cancelled while the fragments of a message were awaited
                var target = new CancellableReadTarget(new ReadTarget(this), cancellationToken);
                _waiter.Wait(ref target, long.MaxValue);
                ThrowIfDisposed(); // disposed from another thread while we waited
            }
        }
        finally
        {
            _receiveCancellation = default;
            EndWaitAlone();
            ExitReceiving();
        }
    }

    /// <summary>
    /// Receives one message, waiting at most <paramref name="timeout"/> (validated by the caller): the receive role is
    /// entered once for the look, the clock-free first spin (<see cref="SpinBeforeClock"/>) and the wait. A message that
    /// is there, or arrives within the first spin, costs no clock read.
    /// </summary>
    /// <returns>True with the message length; false if nothing arrived in time.</returns>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="InvalidOperationException">The endpoint is in a channel group (its group waits for it) and <paramref name="timeout"/> is not zero.</exception>
    /// <param name="destination">Where the message is copied.</param>
    /// <param name="length">The message length.</param>
    /// <param name="timeout">The longest to wait (validated by the caller).</param>
    /// <param name="spun">The caller's fast path looked first, with the clock-free spin if the ring was empty, and declined: no second spin (a decline at a fragment or padding found at once skips it too; the waiter still spins by its strategy).</param>
    public bool TryReceive(Span<byte> destination, out int length, TimeSpan timeout, bool spun = false)
    {
        EnterReceiving();
        try
        {
            ThrowIfPeerEnded();
            if (TryReceiveNow(destination, out length, Deadline.Immediate))
            {
                return true;
            }
            if (timeout == TimeSpan.Zero)
            {
                return false;
            }
            BeginWaitAlone(); // a grouped endpoint in a group throws (its group waits for it); out of one it waits alone
            if (!spun && SpinBeforeClock(timeout) && TryReceiveNow(destination, out length, Deadline.Immediate))
            {
                return true;
            }
            return WaitAndReceive(destination, out length, timeout);
        }
        finally
        {
            EndWaitAlone();
            ExitReceiving();
        }
    }

    /// <summary>
    /// The waiting part of <see cref="TryReceive(Span{byte}, out int, TimeSpan, bool)"/>, out of line (the caller is inside
    /// the receive role): the waiter's clock reads are P/Invokes, and inlined they made every TryReceive set up a P/Invoke
    /// frame in its prolog (a helper call) and a 168-byte frame, also when the message was already there.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool WaitAndReceive(Span<byte> destination, out int length, TimeSpan timeout)
    {
        var deadline = Deadline.After(timeout, nameof(timeout)); // validated by the caller: cannot throw here
        while (true)
        {
            if (TryReceiveNow(destination, out length, deadline))
            {
                return true;
            }
            var target = new ReadTarget(this);
            if (!_waiter.Wait(ref target, deadline.Timestamp))
            {
                return false;
            }
            ThrowIfDisposed(); // disposed from another thread while we waited
        }
    }

    /// <summary>
    /// Waits until a message (or the peer's close or death) is ready to be received, or the deadline passes.
    /// </summary>
    /// <returns>True if the next receive will not block.</returns>
    public bool WaitToReceive(long deadline) => WaitToReceive(Deadline.AtTimestamp(deadline));

    /// <summary>Waits until a message (or the end) is ready to be received, or <paramref name="deadline"/> passes.</summary>
    /// <returns>True if the next receive will not block.</returns>
    public bool WaitToReceive(Deadline deadline)
    {
        EnterReceiving();
        try
        {
            BeginWaitAlone();
            var target = new ReadTarget(this);
            return _waiter.Wait(ref target, deadline.Timestamp);
        }
        finally
        {
            EndWaitAlone();
            ExitReceiving();
        }
    }

    /// <summary>
    /// <see cref="WaitToReceive(Deadline)"/> that also returns when <paramref name="wakeRequest"/> holds a non-zero value: a
    /// thread of this process sets it and then calls <see cref="InterruptPage.WakeAlways"/> on <see cref="Waiter"/>'s page
    /// (IicDuplexPipe's sending side wakes its parked receive thread to spin for the reply its flush made expected). The
    /// caller clears the request.
    /// </summary>
    /// <returns>True if the next receive will not block or a wake was requested.</returns>
    internal bool WaitToReceive(Deadline deadline, System.Runtime.CompilerServices.StrongBox<int> wakeRequest)
    {
        EnterReceiving();
        try
        {
            BeginWaitAlone();
            var target = new WakeableReadTarget(new ReadTarget(this), wakeRequest);
            return _waiter.Wait(ref target, deadline.Timestamp);
        }
        finally
        {
            EndWaitAlone();
            ExitReceiving();
        }
    }

    /// <summary>
    /// Receives one message if it is there. A fragmented message is copied straight into the caller's buffer, waiting
    /// for its fragments until <paramref name="deadline"/>; if time runs out part-way, what arrived is kept in the
    /// reassembly buffer and the next call goes on from there. An abandoned message is discarded.
    /// </summary>
    private bool TryReceiveNow(Span<byte> destination, out int length, Deadline deadline)
    {
        while (true)
        {
            if (_assembling)
            {
                if (_discarding)
                {
                    if (!ContinueDiscard())
                    {
                        ThrowIfPeerGoneAndEmpty(midMessage: true);
                        length = 0;
                        return false; // its rest has not arrived yet: wait, as for a message being gathered
                    }
                    continue; // dropped to its end: look for the next message
                }
                if (_assemblyLength > destination.Length)
                {
                    throw new MessageTooLargeException(_assemblyLength, destination.Length);
                }
                if (_assemblyFilled < _assemblyLength && !ContinueAssembly())
                {
                    if (!_assembling)
                    {
                        continue; // abandoned by the sender: look for the next message
                    }
                    ThrowIfPeerGoneAndEmpty(midMessage: true); // else a closed peer would make every wait return at once, forever
                    length = 0;
                    return false;
                }
                _assembling = false;
                _assembly.AsSpan(0, _assemblyLength).CopyTo(destination);
                length = _assemblyLength;
                Count(length);
                return true;
            }
            if (!_reader.TryPeek(out var type, out var payload))
            {
                _reader.PublishHeadIfStale(); // found empty, before any wait: return all consumed space to the writer (ConsumeLazily held the last back)
                ThrowIfPeerGoneAndEmpty();
                length = 0;
                return false;
            }
            if (type == s_unfragmented)
            {
                if (payload.Length > destination.Length)
                {
                    throw new MessageTooLargeException(payload.Length, destination.Length);
                }
                payload.CopyTo(destination);
                _reader.ConsumeLazily();
                length = payload.Length;
                Count(length);
                return true;
            }
            // A fragmented message: straight into the caller's buffer (one copy), waiting for the rest.
            var total = ValidateBegin(type, payload);
            if (total > _maxReceiveLength)
            {
                RefuseOverLimit(total, payload); // before the buffer: a larger one would not help
            }
            if (total > destination.Length)
            {
                ThrowHelper.MessageTooLarge(total, destination.Length);
            }
            var first = payload[RecordHeader.MessageLengthPrefixSize..];
            first.CopyTo(destination);
            _reader.Consume();
            if (ReceiveFragments(destination, total, first.Length, deadline, out length))
            {
                if (length < 0)
                {
                    length = 0; // the deadline passed mid-message: the part that arrived waits in the reassembly buffer
                    return false;
                }
                return true;
            }
        }
    }

    /// <summary>
    /// Once a receive was told the peer ended, every later one is told the same, also when fragments of a message the
    /// peer was still sending as it closed arrive afterwards (they are never delivered in part, nor out of step). A new
    /// exception each time, not one cached per endpoint (round 25b, measured: 768 B and about 5 us per receive after the
    /// end, of which a cached instance would save only its own 128 B: the throw allocates the stack trace anyway): a
    /// thrown instance's stack trace is overwritten by its next throw, so a cached one would change under a caller that
    /// kept it, and two threads throwing it at once would race on it. A receive after the end is not a hot path.
    /// </summary>
    private void ThrowIfPeerEnded()
    {
        if (_peerEnded != 0)
        {
            ThrowPeerEnded((SideState)_peerEnded, midMessage: false, _peerReset);
        }
    }

    private void ThrowIfPeerGoneAndEmpty(bool midMessage = false)
    {
        var state = _window.ReadSideState(_peer); // acquire: records published before the close are visible now
        if (state < SideState.Closed || _reader.HasData)
        {
            return;
        }
        _peerEnded = (int)(state == SideState.Dead ? SideState.Dead : SideState.Closed);
        _peerReset = state == SideState.Closed && _window.ReadCloseReset(_peer); // after the acquire above: the closer stored it first
        _assembling = false;
        _discarding = false;
        ThrowPeerEnded(state, midMessage, _peerReset);
    }

    [DoesNotReturn]
    private static void ThrowPeerEnded(SideState state, bool midMessage, bool reset)
    {
        if (reset)
        {
            throw new IicChannelClosedException(midMessage
                ? "The peer reset the connection (it had bytes nobody would read) in the middle of a fragmented message; the partial message is not delivered."
                : "The peer reset the connection: its pipe or stream was closed with bytes nobody would read, as a TCP socket closed with unread data sends a reset. Every message it sent was delivered.", peerReset: true);
        }
        if (state == SideState.Dead)
        {
            throw new PeerDeadException(midMessage
                ? "The peer partition died in the middle of a fragmented message; the partial message is not delivered."
                : "The peer partition died; every message it had fully published was delivered.");
        }
        throw new IicChannelClosedException(midMessage
            ? "The peer closed the channel in the middle of a fragmented message; the partial message is not delivered."
            : "The peer closed the channel; every message it sent was delivered.");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // per message; TryReceiveNow is past the inliner's budget without it
    private void Count(int length)
    {
        _received.Add(length);
    }

    // The token of the cancellable Receive in progress (default otherwise); set and read only under the receive role.
    private CancellationToken _receiveCancellation;

    private readonly struct ReadTarget(WindowEndpoint endpoint) : IWaitTarget
    {
        public bool IsReady => endpoint._reader.HasData || endpoint.PeerGone || endpoint._disposed != 0;

        /// <summary>About to sleep: return what was consumed first (the reading thread holds the receive role here).</summary>
        public void Arm()
        {
            endpoint._reader.PublishHeadIfStale();
            endpoint.ArmReceive();
        }

        public void Disarm() => endpoint.DisarmReceive();
    }

    /// <summary>
    /// A <see cref="ReadTarget"/> that a cancellation also makes ready: the token's callback rings the block after the
    /// token reads cancelled (the ring's interlocked operations order the two), and this load follows the sleep
    /// announcement's fence, so either the re-check sees the cancel or the futex word moved first.
    /// </summary>
    private readonly struct CancellableReadTarget(ReadTarget read, CancellationToken cancellationToken) : IWaitTarget
    {
        public bool IsReady => read.IsReady || cancellationToken.IsCancellationRequested;

        public void Arm() => read.Arm();

        public void Disarm() => read.Disarm();
    }

    /// <summary>A <see cref="ReadTarget"/> that a thread of this process can also make ready (its request is read after the sleep announcement's fence).</summary>
    private readonly struct WakeableReadTarget(ReadTarget read, System.Runtime.CompilerServices.StrongBox<int> wakeRequest) : IWaitTarget
    {
        public bool IsReady => Volatile.Read(ref wakeRequest.Value) != 0 || read.IsReady;

        public void Arm() => read.Arm();

        public void Disarm() => read.Disarm();
    }
}
