using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

// The receive side's reassembly of a message sent in fragments (docs/window-layout.md, records and framing): gathering
// the fragments after the first into the caller's buffer or a rented one across calls, and validating each fragment's
// type and length against the message it continues (a peer can be buggy or hostile).
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>
    /// Gathers the fragments after the first into <paramref name="destination"/>.
    /// </summary>
    /// <returns>
    /// True when the call is over: with <paramref name="length"/> the message length, or -1 when the deadline passed
    /// (what arrived was kept for the next call). False when the sender abandoned the message (look for the next).
    /// </returns>
    private bool ReceiveFragments(Span<byte> destination, int total, int filled, Deadline deadline, out int length)
    {
        while (true)
        {
            if (!_reader.TryPeek(out var type, out var payload))
            {
                if (deadline.IsImmediate || !WaitForFragment(deadline))
                {
                    Keep(destination[..filled], total);
                    length = -1;
                    return true;
                }
                ThrowIfDisposed();
                if (!_reader.HasData)
                {
                    ThrowIfPeerGoneAndEmpty(midMessage: true);
                }
                continue;
            }
            var step = ValidateContinuation(type, payload.Length, total, filled);
            if (step == Continuation.Abandon)
            {
                _reader.Consume();
                AbandonedReceives++;
                length = 0;
                return false;
            }
            payload.CopyTo(destination[filled..]);
            _reader.Consume();
            filled += payload.Length;
            if (step == Continuation.Last)
            {
                length = total;
                Count(total);
                return true;
            }
        }
    }

    /// <summary>Waits for the next fragment until <paramref name="deadline"/>; false when it passed, or when the cancellable receive's token was cancelled.</summary>
    private bool WaitForFragment(Deadline deadline)
    {
        if (_receiveCancellation.CanBeCanceled)
        {
            var cancellable = new CancellableReadTarget(new ReadTarget(this), _receiveCancellation);
            return _waiter.Wait(ref cancellable, deadline.Timestamp) && !_receiveCancellation.IsCancellationRequested;
        }
        var target = new ReadTarget(this);
        return _waiter.Wait(ref target, deadline.Timestamp);
    }

    /// <summary>Keeps the fragments gathered so far in the reassembly buffer (a receive whose deadline passed mid-message).</summary>
    private void Keep(ReadOnlySpan<byte> gathered, int total)
    {
        RentAssembly(total);
        gathered.CopyTo(_assembly);
        _assemblyLength = total;
        _assemblyFilled = gathered.Length;
        _assembling = true;
    }

    private void RentAssembly(int total)
    {
        if (_assembly is null || _assembly.Length < total)
        {
            if (_assembly is not null)
            {
                ArrayPool<byte>.Shared.Return(_assembly);
            }
            _assembly = ArrayPool<byte>.Shared.Rent(total);
        }
    }

    /// <summary>Starts gathering a message of <paramref name="total"/> bytes (validated, within the receive limit) whose first fragment is <paramref name="payload"/>.</summary>
    private void BeginAssembly(int total, ReadOnlySpan<byte> payload)
    {
        Debug.Assert(total <= _maxReceiveLength, "the limit is checked before anything is rented");
        RentAssembly(total);
        var first = payload[RecordHeader.MessageLengthPrefixSize..];
        first.CopyTo(_assembly);
        _reader.Consume(publish: PublishEachFragment); // see ContinueAssembly
        _assemblyLength = total;
        _assemblyFilled = first.Length;
        _assembling = true;
    }

    /// <summary>
    /// Copies available fragments into the assembly buffer; true when the message is complete. False when it is not
    /// yet, or when the sender abandoned it (then <see cref="_assembling"/> is false: the fragments are discarded).
    /// <para>Each fragment's space goes back to the writer as soon as it is copied out (<see cref="PublishEachFragment"/>):
    /// a message larger than the ring is written while it is read. Returning the space only when the loop runs dry made
    /// the two sides take turns instead (the writer filled the ring while the reader waited, then the reader drained it
    /// while the writer waited). A middle fragment fills a quarter of the ring, so the head store is nothing beside its copy.</para>
    /// </summary>
    private bool ContinueAssembly()
    {
        while (_reader.TryPeek(out var type, out var payload))
        {
            var step = ValidateContinuation(type, payload.Length, _assemblyLength, _assemblyFilled);
            if (step == Continuation.Abandon)
            {
                _reader.Consume(publish: false);
                _assembling = false;
                AbandonedReceives++;
                break;
            }
            payload.CopyTo(_assembly.AsSpan(_assemblyFilled));
            _reader.Consume(publish: PublishEachFragment);
            _assemblyFilled += payload.Length;
            if (step == Continuation.Last)
            {
                // Return the fragments' space now: TryReceive's caller may next wait, and a writer that is waiting
                // for room (the next message is larger than the ring) would never see it otherwise.
                _reader.PublishHeadIfStale();
                return true;
            }
        }
        _reader.PublishHeadIfStale();
        return false;
    }

    /// <summary>
    /// The checks of a message's first fragment: a Begin record whose announced total (read once) exceeds its first piece
    /// and is at most <see cref="MaxMessageLength"/>. Returns the total; the caller then checks it against the receive
    /// limit (<see cref="RefuseOverLimit"/>) and, for a copy-out receive, the caller's buffer, in that order.
    /// </summary>
    /// <exception cref="RingFaultException">The record does not begin a message (the ring is marked faulted).</exception>
    private int ValidateBegin(int type, ReadOnlySpan<byte> payload)
    {
        if (RecordHeader.Flags(type) != RecordFraming.Begin || payload.Length < RecordHeader.MessageLengthPrefixSize)
        {
            ThrowNotBegin(type, payload.Length);
        }
        var total = BinaryPrimitives.ReadInt64LittleEndian(payload); // read once
        var first = payload.Length - RecordHeader.MessageLengthPrefixSize;
        if (total <= first || total > MaxMessageLength)
        {
            ThrowImpossibleTotal(total, first);
        }
        Debug.Assert(total <= int.MaxValue, "MaxMessageLength fits an int: the cast below cannot truncate");
        return (int)total;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotBegin(int type, int payloadLength) => throw _reader.Faulted(string.Create(CultureInfo.InvariantCulture,
        $"expected the start of a message but found type 0x{type:x8} with {payloadLength} payload bytes"));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowImpossibleTotal(long total, int first) => throw _reader.Faulted(string.Create(CultureInfo.InvariantCulture,
        $"a fragmented message claims {total} bytes; it must exceed its first fragment ({first}) and be at most {MaxMessageLength}"));

    /// <summary>What a record that follows the first fragment does to the message in progress.</summary>
    private enum Continuation
    {
        /// <summary>A middle fragment: more follow.</summary>
        Middle,

        /// <summary>The last fragment: the message is complete with it.</summary>
        Last,

        /// <summary>The sender abandoned the message: discard what was gathered.</summary>
        Abandon,
    }

    /// <summary>
    /// The one check of a record that must continue a message of <paramref name="total"/> bytes of which
    /// <paramref name="filled"/> arrived (both reassembly paths use it): an Abandon record, or a middle or last fragment
    /// that fits what remains, the last one filling it exactly. Anything else is a fault of the shared state.
    /// </summary>
    /// <exception cref="RingFaultException">The record does not continue the message (the ring is marked faulted).</exception>
    private Continuation ValidateContinuation(int type, int fragmentLength, int total, int filled)
    {
        Debug.Assert(0 <= filled && filled <= total, "what arrived never exceeds the message: every fragment was checked against the rest");
        var flags = RecordHeader.Flags(type);
        if (flags == RecordFraming.Abandon)
        {
            return Continuation.Abandon;
        }
        var framing = flags & RecordFraming.Unfragmented;
        if (framing is RecordFraming.Begin or RecordFraming.Unfragmented || (flags & RecordFraming.Abandon) != 0 || fragmentLength > total - filled)
        {
            ThrowNotContinuation(type, fragmentLength, total, filled);
        }
        if (framing != RecordFraming.End)
        {
            return Continuation.Middle;
        }
        if (filled + fragmentLength != total)
        {
            ThrowNotContinuation(type, fragmentLength, total, filled);
        }
        return Continuation.Last;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotContinuation(int type, int fragment, long total, long filled) => throw _reader.Faulted(string.Create(CultureInfo.InvariantCulture,
        $"fragment of type 0x{type:x8} with {fragment} bytes does not continue a message of {total} bytes with {filled} received"));
}
