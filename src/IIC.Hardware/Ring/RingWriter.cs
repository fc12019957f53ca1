using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>
/// The producer end of a <see cref="DescriptorRing"/>. Not thread safe: one thread writes at a time.
/// <para>Protocol (see DESIGN.md): reserve space against a private copy of the consumer's head, re-reading the
/// shared head only when short; write payload and type; clear the next record's header (zero-ahead, see below);
/// store the length last with release semantics (the publish).</para>
/// <para>Zero-ahead: the consumer polls the length word at its head. After a wrap that position may hold stale
/// payload bytes of an older, longer record, so before publishing a record the writer zeroes the 8 bytes where
/// the next record will start. The reader thus always finds 0 (nothing yet) or a fresh header there. This costs
/// one 8-byte store, usually in a line the writer already owns, instead of the reader zeroing whole records. It
/// requires 8 bytes of slack: the ring never fills to the last 8 bytes.</para>
/// </summary>
public sealed unsafe class RingWriter
{
    private const int Alignment = 8;

    private readonly DescriptorRing _ring;
    private readonly byte* _data;
    private readonly long* _sharedTail;
    private readonly long* _sharedHead;
    private readonly int _capacity;
    private readonly int _mask;
    private readonly int _maxRecordLength;

    private long _tail;
    private long _cachedHead;
    private int _claimOffset = -1;
    private int _claimRecordLength;
    private string? _fault;

    internal RingWriter(DescriptorRing ring)
    {
        _ring = ring;
        _data = ring.Data;
        _sharedTail = ring.Tail;
        _sharedHead = ring.Head;
        _capacity = ring.Capacity;
        _mask = ring.Capacity - 1;
        _maxRecordLength = ring.MaxRecordLength;
        // A writer resumes where the shared words say (a fresh window has both at 0). Validated like any shared read.
        _tail = Volatile.Read(ref *_sharedTail);
        _cachedHead = Volatile.Read(ref *_sharedHead);
        if (_tail < 0 || _cachedHead < 0 || (ulong)(_tail - _cachedHead) > (ulong)_capacity || (_tail & (Alignment - 1)) != 0)
        {
            throw ring.Fault(string.Create(CultureInfo.InvariantCulture, $"tail {_tail} and head {_cachedHead} are not a valid position pair"));
        }
    }

    /// <summary>The ring written to.</summary>
    public DescriptorRing Ring => _ring;

    /// <summary>The largest payload one record carries; larger messages must be fragmented.</summary>
    public int MaxPayloadLength => _maxRecordLength - RecordHeader.Size;

    /// <summary>Whether a claim is open (claimed and neither committed nor aborted).</summary>
    public bool HasOpenClaim => _claimOffset >= 0;

    /// <summary>Bytes written so far (the private tail).</summary>
    public long Position => _tail;

    /// <summary>The reason the ring is faulted, or null.</summary>
    public string? FaultReason => _fault;

    /// <summary>The consumer's armed word, for the doorbell.</summary>
    internal int* Armed => _ring.Armed;

    /// <summary>
    /// Writes one record if there is room now: copies <paramref name="payload"/> in and publishes it.
    /// </summary>
    /// <param name="payload">At most <see cref="MaxPayloadLength"/> bytes.</param>
    /// <param name="type">The type word (flags and message type, see <see cref="RecordHeader.MakeType"/>).</param>
    /// <returns>False when the ring has no room for the record now.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The payload is longer than <see cref="MaxPayloadLength"/>.</exception>
    /// <exception cref="InvalidOperationException">A claim is open.</exception>
    /// <exception cref="RingFaultException">The consumer's shared head is corrupt.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite(ReadOnlySpan<byte> payload, int type)
    {
        var recordLength = RecordHeader.Size + payload.Length;
        if (!TryReserve(recordLength, out var offset, out var paddingOffset))
        {
            return false;
        }
        var record = _data + offset;
        // Plain stores: ordered before the publish below by its release semantics.
        payload.CopyTo(new Span<byte>(record + RecordHeader.Size, payload.Length));
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Publish(offset, recordLength, paddingOffset);
        return true;
    }

    /// <summary>
    /// Reserves a record of <paramref name="payloadLength"/> bytes for in-place writing. The record is marked
    /// claimed (negative length): the reader waits at it and never delivers it until <see cref="Commit"/>.
    /// </summary>
    /// <returns>False when there is no room now.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or above <see cref="MaxPayloadLength"/>.</exception>
    /// <exception cref="InvalidOperationException">A claim is already open.</exception>
    public bool TryClaim(int payloadLength, int type, out Span<byte> payload)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        var recordLength = RecordHeader.Size + payloadLength;
        if (!TryReserve(recordLength, out var offset, out var paddingOffset))
        {
            payload = default;
            return false;
        }
        var record = _data + offset;
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Volatile.Write(ref *(int*)record, -recordLength);
        ZeroNextHeader();
        if (paddingOffset >= 0)
        {
            PublishPadding(paddingOffset);
        }
        _claimOffset = offset;
        _claimRecordLength = recordLength;
        payload = new Span<byte>(record + RecordHeader.Size, payloadLength);
        return true;
    }

    /// <summary>Publishes the open claim with the given type word (release store of the positive length).</summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    public void Commit(int type)
    {
        var record = _data + TakeClaim();
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Volatile.Write(ref *(int*)record, _claimRecordLength);
        Volatile.Write(ref *_sharedTail, _tail);
    }

    /// <summary>Turns the open claim into padding, which the reader skips: nothing is delivered.</summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    public void Abort()
    {
        var record = _data + TakeClaim();
        *(int*)(record + RecordHeader.TypeOffset) = (int)RecordFraming.Padding;
        Volatile.Write(ref *(int*)record, _claimRecordLength);
        Volatile.Write(ref *_sharedTail, _tail);
    }

    /// <summary>Whether a record of <paramref name="payloadLength"/> fits now (re-reading the shared head if needed).</summary>
    public bool HasRoomFor(int payloadLength)
    {
        var needed = Needed(RecordHeader.Size + payloadLength, (int)(_tail & _mask));
        return _tail + needed + RecordHeader.Size - _cachedHead <= _capacity || _tail + needed + RecordHeader.Size - ReadHead() <= _capacity;
    }

    private int TakeClaim()
    {
        var offset = _claimOffset;
        if (offset < 0)
        {
            throw new InvalidOperationException("No claim is open: call TryClaim first, and Commit or Abort each claim once.");
        }
        _claimOffset = -1;
        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryReserve(int recordLength, out int offset, out int paddingOffset)
    {
        if (recordLength > _maxRecordLength || recordLength < RecordHeader.Size || _claimOffset >= 0 || _fault is not null)
        {
            ThrowBadReserve(recordLength);
        }
        var tailOffset = (int)(_tail & _mask);
        var needed = Needed(recordLength, tailOffset);
        // + Size: zero-ahead slack, so the next header never lands on an unconsumed record.
        if (_tail + needed + RecordHeader.Size - _cachedHead > _capacity
            && _tail + needed + RecordHeader.Size - ReadHead() > _capacity)
        {
            offset = paddingOffset = -1;
            return false;
        }
        var aligned = (recordLength + (Alignment - 1)) & ~(Alignment - 1);
        if (needed == aligned)
        {
            offset = tailOffset;
            paddingOffset = -1;
        }
        else
        {
            offset = 0; // the record goes to the start; the rest of the area becomes padding
            paddingOffset = tailOffset;
        }
        _tail += needed;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Needed(int recordLength, int tailOffset)
    {
        var aligned = (recordLength + (Alignment - 1)) & ~(Alignment - 1);
        var toEnd = _capacity - tailOffset;
        return aligned <= toEnd ? aligned : toEnd + aligned;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Publish(int offset, int recordLength, int paddingOffset)
    {
        ZeroNextHeader();
        // The publish: a release store, so the payload, type and zeroed next header are visible first.
        Volatile.Write(ref *(int*)(_data + offset), recordLength);
        if (paddingOffset >= 0)
        {
            // Published after the record at 0, so a reader that follows the padding finds it.
            PublishPadding(paddingOffset);
        }
        Volatile.Write(ref *_sharedTail, _tail);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ZeroNextHeader() => *(long*)(_data + (int)(_tail & _mask)) = 0;

    private void PublishPadding(int paddingOffset)
    {
        var padding = _data + paddingOffset;
        *(int*)(padding + RecordHeader.TypeOffset) = (int)RecordFraming.Padding;
        Volatile.Write(ref *(int*)padding, _capacity - paddingOffset);
    }

    /// <summary>Re-reads the consumer's shared head: once, into a local, validated before use.</summary>
    private long ReadHead()
    {
        var head = Volatile.Read(ref *_sharedHead);
        if (head < _cachedHead || head > _tail || (head & (Alignment - 1)) != 0)
        {
            _fault = string.Create(CultureInfo.InvariantCulture, $"the consumer's head {head} is outside [{_cachedHead}, {_tail}] or misaligned");
            throw Faulted(_fault);
        }
        _cachedHead = head;
        return head;
    }

    /// <summary>Ring faults this writer has raised (each <see cref="RingFaultException"/> thrown counts; owned by the writing thread).</summary>
    public long Faults { get; private set; }

    private RingFaultException Faulted(string what)
    {
        Faults++;
        return _ring.Fault(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadReserve(int recordLength)
    {
        if (_fault is not null)
        {
            throw Faulted(_fault);
        }
        if (_claimOffset >= 0)
        {
            throw new InvalidOperationException("A claim is open: Commit or Abort it before writing again.");
        }
        throw new ArgumentOutOfRangeException(nameof(recordLength), string.Create(CultureInfo.InvariantCulture,
            $"A payload of {recordLength - RecordHeader.Size} bytes exceeds the ring's largest record payload ({MaxPayloadLength} bytes); fragment it (Send does) or use a larger ring."));
    }
}
