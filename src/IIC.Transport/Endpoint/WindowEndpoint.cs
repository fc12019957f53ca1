using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IIC.Hardware;

/// <summary>
/// One side of a <see cref="SharedWindow"/> at message level: it writes the ring its side owns and reads the
/// other, rings the peer's doorbell, waits with its <see cref="Waiter"/>, and fragments and reassembles
/// messages larger than a record. Thread safety: one sending thread and one receiving thread at a time.
/// <para>Fragments: a message that fits one record is one record flagged Begin|End. A larger one is a Begin
/// record whose payload starts with the whole message length (int64), zero or more middle records, and an End
/// record; the receiver checks the sequence and the running total against that length.</para>
/// </summary>
public sealed unsafe class WindowEndpoint : IDisposable
{
    /// <summary>The largest message (1 GiB): messages are handed out as spans.</summary>
    public const long MaxMessageLength = 1L << 30;

    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    private readonly SharedWindow _window;
    private readonly bool _ownsWindow;
    private readonly int _side;
    private readonly int _peer;
    private readonly Native.MappingLease _lease;
    private readonly RingWriter _writer;
    private readonly RingReader _reader;
    private readonly Doorbell _doorbell;
    private readonly Waiter _waiter;

    private byte[]? _assembly;
    private int _assemblyLength;
    private int _assemblyFilled;
    private bool _assembling;
    private int _claimLength;
    private readonly bool _grouped;
    private readonly int* _peerState; // in the leased mapping: valid for this endpoint's life
    private int _disposed;
    private int _released;
    private int _disposeStarted;
    private InFlightFlag _sending;
    private InFlightFlag _receiving;
    private InFlightFlag _closing; // Dispose's own use of the mapping

    /// <summary>Attaches to side <paramref name="side"/> of <paramref name="window"/>.</summary>
    /// <param name="window">The window.</param>
    /// <param name="side">0 or 1.</param>
    /// <param name="strategy">How the receiver waits.</param>
    /// <param name="ownsWindow">Dispose the window with this endpoint.</param>
    /// <exception cref="ArgumentOutOfRangeException">The side is not 0 or 1.</exception>
    public WindowEndpoint(SharedWindow window, int side, WaitStrategy strategy, bool ownsWindow = false)
    {
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)side, 1u, nameof(side));
        _window = window;
        _ownsWindow = ownsWindow;
        _side = side;
        _peer = 1 - side;
        _lease = window.Lease();
        try
        {
            _writer = window.GetRing(side).CreateWriter();
            _reader = window.GetRing(_peer).CreateReader(); // throws RingFaultException on a head the peer corrupted
            _doorbell = new Doorbell(_writer, window.GetInterruptPage(_peer), window.GetVector(_peer));
            // A grouped side shares its page with other members: never clear their pending bits (mid-message waits only).
            _waiter = new Waiter(strategy, window.GetInterruptPage(side), pendingIsReadiness: window.IsGrouped(side));
            _grouped = window.IsGrouped(side);
            _peerState = window.SideStateWord(_peer);
        }
        catch
        {
            _lease.Dispose(); // else the mapping outlives the window's Dispose
            throw;
        }
        window.MarkAttached(side, Environment.ProcessId);
    }

    /// <summary>The window.</summary>
    public SharedWindow Window => _window;

    /// <summary>This endpoint's side.</summary>
    public int Side => _side;

    /// <summary>The receiver's waiter (strategy, learned state, counters).</summary>
    public Waiter Waiter => _waiter;

    /// <summary>The doorbell (signal counters).</summary>
    public Doorbell Doorbell => _doorbell;

    /// <summary>The largest message that travels as one record (and can be claimed).</summary>
    public int MaxRecordPayloadLength => _writer.MaxPayloadLength;

    /// <summary>Whether a claim is open (claimed and neither committed nor aborted).</summary>
    public bool HasOpenClaim => _writer.HasOpenClaim;

    /// <summary>Messages sent.</summary>
    public long MessagesSent { get; private set; }

    /// <summary>Payload bytes sent.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Messages received.</summary>
    public long MessagesReceived { get; private set; }

    /// <summary>Payload bytes received.</summary>
    public long BytesReceived { get; private set; }

    /// <summary>Sends that found the ring full and had to wait.</summary>
    public long RingFullStalls { get; private set; }

    /// <summary>Ring protocol faults raised on this endpoint (<see cref="RingFaultException"/>s thrown by its reader and writer).</summary>
    public long Faults => _reader.Faults + _writer.Faults;

    /// <summary>Bytes waiting in the outgoing ring.</summary>
    public long OutgoingOccupancy => _writer.Ring.Occupancy;

    /// <summary>The peer's state.</summary>
    public SideStatus Peer => _window.ReadSide(_peer);

    /// <summary>The interrupt block this endpoint sleeps on (for dispatchers that wait on behalf of async receivers).</summary>
    public InterruptPage ReceivePage => _window.GetInterruptPage(_side);

    /// <summary>True when a receive would not block: a record waits, or the peer closed or died, or this endpoint is disposed.</summary>
    public bool IsReceiveReady => _reader.HasData || PeerGone || _disposed != 0;

    /// <summary>The peer closed or died (any state word outside 0-3, written by a buggy peer, also reads as gone).</summary>
    private bool PeerGone => (uint)Volatile.Read(ref *_peerState) >= (uint)SideState.Closed;

    /// <summary>Arms the incoming ring (full fence): the peer rings the doorbell after each publish until <see cref="DisarmReceive"/>.</summary>
    public void ArmReceive() => _reader.Arm();

    /// <summary>Disarms the incoming ring.</summary>
    public void DisarmReceive() => _reader.Disarm();

    /// <summary>
    /// Sends one message (one copy, into the ring). Waits for room until <paramref name="deadline"/>; once the
    /// first fragment of a large message is out, the rest follow without a deadline (the peer drains them).
    /// </summary>
    /// <param name="message">Up to <see cref="MaxMessageLength"/> bytes.</param>
    /// <param name="deadline">A <see cref="Stopwatch.GetTimestamp"/> value; 0 = do not wait; <see cref="long.MaxValue"/> = wait as long as needed.</param>
    /// <returns>False if there was no room by the deadline (nothing was sent).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/>.</exception>
    /// <exception cref="ChannelClosedException">The peer closed.</exception>
    /// <exception cref="PeerDeadException">The peer died.</exception>
    /// <exception cref="RingFaultException">The shared state is corrupt.</exception>
    public bool Send(ReadOnlySpan<byte> message, long deadline)
    {
        EnterSending();
        try
        {
            return SendCore(message, deadline);
        }
        finally
        {
            ExitSending();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SendCore(ReadOnlySpan<byte> message, long deadline)
    {
        if (PeerGone) // one acquire load of a line that only changes at close or death
        {
            ThrowPeerGone();
        }
        if (message.Length <= _writer.MaxPayloadLength)
        {
            if (!_writer.TryWrite(message, s_unfragmented))
            {
                if (!WaitForRoom(message.Length, deadline))
                {
                    return false;
                }
                _writer.TryWrite(message, s_unfragmented);
            }
            _doorbell.Ring();
            MessagesSent++;
            BytesSent += message.Length;
            return true;
        }
        return SendFragmented(message, deadline);
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

    private bool TryClaimCore(int length, out Span<byte> payload)
    {
        if (length < 0 || length > _writer.MaxPayloadLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, string.Create(CultureInfo.InvariantCulture,
                $"A claim must be 0 to {_writer.MaxPayloadLength} bytes (one record); send larger messages with Send, which fragments them."));
        }
        if (_window.ReadSideState(_peer) >= SideState.Closed)
        {
            ThrowPeerGone();
        }
        if (!_writer.TryClaim(length, s_unfragmented, out payload))
        {
            return false;
        }
        _claimLength = length;
        return true;
    }

    /// <summary>Publishes the open claim.</summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    public void Commit()
    {
        try
        {
            ThrowIfDisposed(); // the span stayed mapped while the claim was open; nothing is published after Dispose
            _writer.Commit(s_unfragmented);
            _doorbell.Ring();
            MessagesSent++;
            BytesSent += _claimLength;
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

    /// <summary>
    /// Receives one message into <paramref name="destination"/>, waiting until <paramref name="deadline"/>.
    /// </summary>
    /// <returns>True with the message length; false if nothing arrived by the deadline.</returns>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread.</exception>
    /// <exception cref="ChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="RingFaultException">The shared state is corrupt.</exception>
    public bool TryReceive(Span<byte> destination, out int length, long deadline)
    {
        EnterReceiving();
        try
        {
            if (deadline != 0)
            {
                ThrowIfGrouped();
            }
            while (true)
            {
                if (TryReceiveNow(destination, out length))
                {
                    return true;
                }
                var target = new ReadTarget(this);
                if (deadline == 0 || !_waiter.Wait(ref target, deadline))
                {
                    return false;
                }
                ThrowIfDisposed(); // disposed from another thread while we waited
            }
        }
        finally
        {
            ExitReceiving();
        }
    }

    /// <summary>
    /// Waits until a message (or the peer's close or death) is ready to be received, or the deadline passes.
    /// </summary>
    /// <returns>True if the next receive will not block.</returns>
    public bool WaitToReceive(long deadline)
    {
        EnterReceiving();
        try
        {
            ThrowIfGrouped();
            var target = new ReadTarget(this);
            return _waiter.Wait(ref target, deadline);
        }
        finally
        {
            ExitReceiving();
        }
    }

    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to <paramref name="handler"/> without copying: the span
    /// points into the ring and is valid only during the call. Fragmented messages are reassembled into a
    /// buffer kept for reuse. If the handler throws, its message stays unread and is handed out again.
    /// </summary>
    /// <returns>The number of messages handled (0 when none are waiting).</returns>
    /// <exception cref="ChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Poll<TState>(ReadOnlySpanAction<byte, TState> handler, TState state, int limit = int.MaxValue)
    {
        var adapter = new DelegateMessageHandler<TState>(handler, state);
        return Poll(ref adapter, limit);
    }

    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to a struct <paramref name="handler"/> without copying
    /// (see <see cref="Poll{TState}(ReadOnlySpanAction{byte, TState}, TState, int)"/>).
    /// </summary>
    /// <returns>The number of messages handled (0 when none are waiting).</returns>
    /// <exception cref="ChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Poll<THandler>(ref THandler handler, int limit = int.MaxValue)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        EnterReceiving();
        var handled = 0;
        try
        {
            while (handled < limit && _disposed == 0) // a handler may dispose the channel: stop, then release
            {
                if (_assembling)
                {
                    if (_assemblyFilled < _assemblyLength && !ContinueAssembly())
                    {
                        if (handled == 0)
                        {
                            ThrowIfPeerGoneAndEmpty(midMessage: true);
                        }
                        break;
                    }
                    handler.OnMessage(new ReadOnlySpan<byte>(_assembly, 0, _assemblyLength));
                    _assembling = false; // only now: if the handler threw, the message is handed out again
                    Count(_assemblyLength);
                    handled++;
                    continue;
                }
                if (!_reader.TryPeek(out var type, out var payload))
                {
                    if (handled == 0)
                    {
                        ThrowIfPeerGoneAndEmpty();
                    }
                    break;
                }
                if (type == s_unfragmented)
                {
                    handler.OnMessage(payload);
                    _reader.Consume(publish: false);
                    Count(payload.Length);
                    handled++;
                    continue;
                }
                BeginAssembly(type, payload, int.MaxValue);
            }
        }
        finally
        {
            _reader.PublishHead();
            ExitReceiving();
        }
        return handled;
    }

    /// <summary>Closes this side: the peer's receives end once they drained what was sent.</summary>
    /// <remarks>
    /// Safe from any thread, also while another thread sends, receives or holds a claim or a polled span: the
    /// mapping is released only once no operation is in flight (by Dispose, or by the last operation to leave).
    /// Operations that were waiting end with <see cref="ObjectDisposedException"/>.
    /// </remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            return;
        }
        // Dispose itself uses the mapping below: count it in flight before anyone can see _disposed, or an
        // operation leaving at that moment would release the mapping under us.
        Volatile.Write(ref _closing.Value, 1);
        Interlocked.Exchange(ref _disposed, 1); // full fence: _closing is visible to whoever sees _disposed
        _window.MarkClosed(_side);
        _waiter.Page.WakeAlways(); // our own receiver, if another thread parks in it, wakes and sees the disposal
        Volatile.Write(ref _closing.Value, 0);
        // The in-flight flags are plain stores on the hot paths; this barrier makes every thread's earlier
        // stores visible before we read them (and ours before they read _disposed): an asymmetric Dekker.
        Interlocked.MemoryBarrierProcessWide();
        TryRelease();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnterSending()
    {
        Volatile.Write(ref _sending.Value, 1);
        if (Volatile.Read(ref _disposed) != 0)
        {
            ExitSending();
            ThrowIfDisposed();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ExitSending()
    {
        Volatile.Write(ref _sending.Value, 0);
        if (Volatile.Read(ref _disposed) != 0)
        {
            TryRelease();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnterReceiving()
    {
        Volatile.Write(ref _receiving.Value, 1);
        if (Volatile.Read(ref _disposed) != 0)
        {
            ExitReceiving();
            ThrowIfDisposed();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ExitReceiving()
    {
        Volatile.Write(ref _receiving.Value, 0);
        if (Volatile.Read(ref _disposed) != 0)
        {
            TryRelease();
        }
    }

    /// <summary>Releases the mapping once disposed and no operation is in flight; only the first caller to see that does it.</summary>
    private void TryRelease()
    {
        if (Volatile.Read(ref _closing.Value) == 0 && Volatile.Read(ref _sending.Value) == 0 && Volatile.Read(ref _receiving.Value) == 0
            && Interlocked.Exchange(ref _released, 1) == 0)
        {
            _lease.Dispose();
            if (_ownsWindow)
            {
                _window.Dispose();
            }
        }
    }

    /// <summary>A flag on a line of its own: the sending and receiving threads each write theirs on every call.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 2 * Smp.PaddedLineSize)]
    private struct InFlightFlag
    {
        [FieldOffset(Smp.PaddedLineSize)]
        public int Value;
    }

    private bool TryReceiveNow(Span<byte> destination, out int length)
    {
        if (_assembling)
        {
            if (_assemblyLength > destination.Length)
            {
                throw new MessageTooLargeException(_assemblyLength, destination.Length);
            }
            if (_assemblyFilled < _assemblyLength && !ContinueAssembly())
            {
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
            _reader.PublishHeadIfStale(); // before any wait: return all consumed space to the writer
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
        var total = ValidateBegin(type, payload, destination.Length);
        var first = payload[RecordHeader.MessageLengthPrefixSize..];
        first.CopyTo(destination);
        _reader.Consume();
        var filled = first.Length;
        while (true)
        {
            if (!_reader.TryPeek(out type, out payload))
            {
                var target = new ReadTarget(this);
                _waiter.Wait(ref target, long.MaxValue);
                ThrowIfDisposed();
                if (!_reader.HasData)
                {
                    ThrowIfPeerGoneAndEmpty(midMessage: true);
                }
                continue;
            }
            var framing = RecordHeader.Flags(type) & RecordFraming.Unfragmented;
            if (framing is RecordFraming.Begin or RecordFraming.Unfragmented || payload.Length > total - filled)
            {
                throw Fault(type, payload.Length, total, filled);
            }
            payload.CopyTo(destination[filled..]);
            _reader.Consume();
            filled += payload.Length;
            if (framing == RecordFraming.End)
            {
                if (filled != total)
                {
                    throw Fault(type, payload.Length, total, filled);
                }
                length = total;
                Count(total);
                return true;
            }
        }
    }

    private void BeginAssembly(int type, ReadOnlySpan<byte> payload, int limit)
    {
        var total = ValidateBegin(type, payload, limit);
        if (_assembly is null || _assembly.Length < total)
        {
            if (_assembly is not null)
            {
                ArrayPool<byte>.Shared.Return(_assembly);
            }
            _assembly = ArrayPool<byte>.Shared.Rent(total);
        }
        var first = payload[RecordHeader.MessageLengthPrefixSize..];
        first.CopyTo(_assembly);
        _reader.Consume(publish: false);
        _assemblyLength = total;
        _assemblyFilled = first.Length;
        _assembling = true;
    }

    /// <summary>Copies available fragments into the assembly buffer; true when the message is complete.</summary>
    private bool ContinueAssembly()
    {
        while (_reader.TryPeek(out var type, out var payload))
        {
            var framing = RecordHeader.Flags(type) & RecordFraming.Unfragmented;
            if (framing is RecordFraming.Begin or RecordFraming.Unfragmented || payload.Length > _assemblyLength - _assemblyFilled)
            {
                throw Fault(type, payload.Length, _assemblyLength, _assemblyFilled);
            }
            payload.CopyTo(_assembly.AsSpan(_assemblyFilled));
            _reader.Consume(publish: false);
            _assemblyFilled += payload.Length;
            if (framing == RecordFraming.End)
            {
                if (_assemblyFilled != _assemblyLength)
                {
                    throw Fault(type, payload.Length, _assemblyLength, _assemblyFilled);
                }
                // Return the fragments' space now: TryReceive's caller may next wait, and a writer that is waiting
                // for room (the next message is larger than the ring) would never see it otherwise.
                _reader.PublishHead();
                return true;
            }
        }
        _reader.PublishHead();
        return false;
    }

    private int ValidateBegin(int type, ReadOnlySpan<byte> payload, int destinationLength)
    {
        if (RecordHeader.Flags(type) != RecordFraming.Begin || payload.Length < RecordHeader.MessageLengthPrefixSize)
        {
            throw _reader.Faulted(string.Create(CultureInfo.InvariantCulture,
                $"expected the start of a message but found type 0x{type:x8} with {payload.Length} payload bytes"));
        }
        var total = BinaryPrimitives.ReadInt64LittleEndian(payload); // read once
        var first = payload.Length - RecordHeader.MessageLengthPrefixSize;
        if (total <= first || total > MaxMessageLength)
        {
            throw _reader.Faulted(string.Create(CultureInfo.InvariantCulture,
                $"a fragmented message claims {total} bytes; it must exceed its first fragment ({first}) and be at most {MaxMessageLength}"));
        }
        if (total > destinationLength)
        {
            throw new MessageTooLargeException(total, destinationLength);
        }
        return (int)total;
    }

    private RingFaultException Fault(int type, int fragment, long total, long filled) => _reader.Faulted(string.Create(CultureInfo.InvariantCulture,
        $"fragment of type 0x{type:x8} with {fragment} bytes does not continue a message of {total} bytes with {filled} received"));

    private bool SendFragmented(ReadOnlySpan<byte> message, long deadline)
    {
        if (message.Length > MaxMessageLength)
        {
            throw new ArgumentOutOfRangeException(nameof(message), message.Length, string.Create(CultureInfo.InvariantCulture,
                $"A message is at most {MaxMessageLength} bytes; split it, or stream it with AsStream()."));
        }
        var chunk = _writer.MaxPayloadLength;
        var firstLength = chunk - RecordHeader.MessageLengthPrefixSize;
        if (!_writer.TryClaim(chunk, (int)RecordFraming.Begin, out var first))
        {
            if (!WaitForRoom(chunk, deadline))
            {
                return false;
            }
            _writer.TryClaim(chunk, (int)RecordFraming.Begin, out first);
        }
        BinaryPrimitives.WriteInt64LittleEndian(first, message.Length);
        message[..firstLength].CopyTo(first[RecordHeader.MessageLengthPrefixSize..]);
        _writer.Commit((int)RecordFraming.Begin);
        _doorbell.Ring();
        var sent = firstLength;
        while (sent < message.Length)
        {
            var length = Math.Min(chunk, message.Length - sent);
            var type = (int)(sent + length == message.Length ? RecordFraming.End : RecordFraming.None);
            var piece = message.Slice(sent, length);
            if (!_writer.TryWrite(piece, type))
            {
                WaitForRoom(length, long.MaxValue);
                _writer.TryWrite(piece, type);
            }
            _doorbell.Ring();
            sent += length;
        }
        MessagesSent++;
        BytesSent += message.Length;
        return true;
    }

    /// <summary>
    /// Back pressure: waits until a record of <paramref name="payloadLength"/> fits. The reader does not signal
    /// freed space, so this spins like the receive side would (a busy-spinning channel keeps spinning; the others
    /// spin up to 50 µs), then yields, then sleeps in steps of 1 ms.
    /// </summary>
    private bool WaitForRoom(int payloadLength, long deadline)
    {
        RingFullStalls++;
        var start = Stopwatch.GetTimestamp();
        var spinFor = _waiter.Strategy.Kind == WaitKind.BusySpin ? long.MaxValue : Stopwatch.Frequency / 20_000;
        var rounds = 0;
        while (!_writer.HasRoomFor(payloadLength))
        {
            ThrowIfDisposed();
            if (PeerGone)
            {
                ThrowPeerGone();
            }
            var now = Stopwatch.GetTimestamp();
            if (deadline != long.MaxValue && now >= deadline)
            {
                return false;
            }
            if (now - start < spinFor)
            {
                Thread.SpinWait(20);
            }
            else if (++rounds < 10)
            {
                Thread.Yield();
            }
            else
            {
                Thread.Sleep(1);
            }
        }
        return true;
    }

    private void ThrowIfPeerGoneAndEmpty(bool midMessage = false)
    {
        var state = _window.ReadSideState(_peer); // acquire: records published before the close are visible now
        if (state < SideState.Closed || _reader.HasData)
        {
            return;
        }
        if (state == SideState.Dead)
        {
            throw new PeerDeadException(midMessage
                ? "The peer partition died in the middle of a fragmented message; the partial message is not delivered."
                : "The peer partition died; every message it had fully published was delivered.");
        }
        throw new ChannelClosedException(midMessage
            ? "The peer closed the channel in the middle of a fragmented message; the partial message is not delivered."
            : "The peer closed the channel; every message it sent was delivered.");
    }

    private void ThrowPeerGone()
    {
        if (_window.ReadSideState(_peer) == SideState.Dead)
        {
            throw new PeerDeadException("The peer partition died: nothing more can be sent.");
        }
        throw new ChannelClosedException("The peer closed the channel: nothing more can be sent.");
    }

    private void Count(int length)
    {
        MessagesReceived++;
        BytesReceived += length;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);

    private void ThrowIfGrouped()
    {
        if (_grouped)
        {
            throw new InvalidOperationException("This endpoint receives through an interrupt group: wait with its GroupReceiver (or the channel group), then receive without waiting.");
        }
    }

    private readonly struct ReadTarget(WindowEndpoint endpoint) : IWaitTarget
    {
        public bool IsReady => endpoint._reader.HasData || endpoint.PeerGone || endpoint._disposed != 0;

        public void Arm() => endpoint._reader.Arm();

        public void Disarm() => endpoint._reader.Disarm();
    }
}
