using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>The sending role: one copy into the ring, claims written in place, fragmentation of messages larger than a record, and back pressure.</summary>
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>
    /// Sends one message (one copy, into the ring). Waits for room until <paramref name="deadline"/>; once the
    /// first fragment of a large message is out, the rest follow without a deadline (the peer drains them).
    /// </summary>
    /// <param name="message">Up to <see cref="MaxMessageLength"/> bytes.</param>
    /// <param name="deadline">A <see cref="Stopwatch.GetTimestamp"/> value; 0 = do not wait; <see cref="long.MaxValue"/> = wait as long as needed.</param>
    /// <returns>False if there was no room by the deadline (nothing was sent).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/>.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed.</exception>
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

    private void ThrowPeerGone()
    {
        if (_window.ReadSideState(_peer) == SideState.Dead)
        {
            throw new PeerDeadException("The peer partition died: nothing more can be sent.");
        }
        throw new IicChannelClosedException("The peer closed the channel: nothing more can be sent.");
    }
}
