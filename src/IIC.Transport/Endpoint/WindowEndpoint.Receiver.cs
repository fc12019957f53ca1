using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>The receiving role: copy-out and zero-copy poll, reassembly of fragmented messages with their validation, and the end of the stream.</summary>
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
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
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
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
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
        throw new IicChannelClosedException(midMessage
            ? "The peer closed the channel in the middle of a fragmented message; the partial message is not delivered."
            : "The peer closed the channel; every message it sent was delivered.");
    }

    private void Count(int length)
    {
        MessagesReceived++;
        BytesReceived += length;
    }

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
