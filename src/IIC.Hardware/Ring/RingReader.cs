using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>
/// The consumer end of a <see cref="DescriptorRing"/>. Not thread safe: one thread reads at a time.
/// <para>It polls the length word at its own head (never a shared tail), so a small record and its descriptor
/// arrive in one cache line. Every shared value is read once into a local and validated before use; a
/// violation faults the reader with a <see cref="RingFaultException"/> that names it, and nothing outside
/// the data area is ever read or written.</para>
/// </summary>
public sealed unsafe class RingReader
{
    private const int Alignment = 8;

    private readonly DescriptorRing _ring;
    private readonly byte* _data;
    private readonly long* _sharedHead;
    private readonly int* _armed;
    private readonly int _capacity;
    private readonly int _mask;
    private readonly int _maxRecordLength;

    private long _head;
    private long _publishedHead;
    private readonly int _publishThreshold;
    private int _peekedAlignedLength;
    private string? _fault;

    internal RingReader(DescriptorRing ring)
    {
        _ring = ring;
        _data = ring.Data;
        _sharedHead = ring.Head;
        _armed = ring.Armed;
        _capacity = ring.Capacity;
        _mask = ring.Capacity - 1;
        _maxRecordLength = ring.MaxRecordLength;
        _publishThreshold = ring.Capacity / 4;
        _head = Volatile.Read(ref *_sharedHead);
        _publishedHead = _head;
        if (_head < 0 || (_head & (Alignment - 1)) != 0)
        {
            throw ring.Fault(string.Create(CultureInfo.InvariantCulture, $"head {_head} is negative or misaligned"));
        }
    }

    /// <summary>The ring read from.</summary>
    public DescriptorRing Ring => _ring;

    /// <summary>Bytes consumed so far (the private head).</summary>
    public long Position => _head;

    /// <summary>The reason the ring is faulted, or null.</summary>
    public string? FaultReason => _fault;

    /// <summary>
    /// Whether a published record (or padding) waits at the head: one acquire load, no validation. Use it to
    /// spin; <see cref="TryPeek"/> validates.
    /// </summary>
    public bool HasData
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *(int*)(_data + (int)(_head & _mask))) > 0;
    }

    /// <summary>
    /// Looks at the next record without consuming it, skipping padding. The payload span points into the
    /// shared ring (zero copy) and is valid until <see cref="Consume"/>.
    /// </summary>
    /// <param name="type">The record's type word.</param>
    /// <param name="payload">The record's payload in place.</param>
    /// <returns>False when no published record waits.</returns>
    /// <exception cref="RingFaultException">The record's descriptor is corrupt.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPeek(out int type, out ReadOnlySpan<byte> payload)
    {
        if (_fault is not null)
        {
            throw Fault(_fault);
        }
        // Padding skipped in one call is bounded by one lap (then it is a fault), so a peer that writes only padding cannot hold us here.
        for (var skipped = 0; ;)
        {
            var offset = (int)(_head & _mask);
            var record = _data + offset;
            // Acquire: the payload and type stores the writer made before its release store of the length are visible.
            var length = Volatile.Read(ref *(int*)record);
            if (length <= 0)
            {
                if (length != 0)
                {
                    ValidateClaimed(length, offset);
                }
                break;
            }
            var recordType = *(int*)(record + RecordHeader.TypeOffset); // read once
            // Bound the length before aligning it: near int.MaxValue the rounding overflows to a negative value.
            // (capacity - offset is a multiple of 8, so length <= it exactly when the aligned length is.)
            if (length < RecordHeader.Size || length > _capacity - offset || (recordType & 0xff & ~(int)RecordFraming.All) != 0)
            {
                throw Fault(string.Create(CultureInfo.InvariantCulture,
                    $"record at offset {offset} (position {_head}) has length {length} and type 0x{recordType:x8}; a record must be {RecordHeader.Size} to {_capacity - offset} bytes inside the data area with flags within 0x{(int)RecordFraming.All:x}"));
            }
            var aligned = (length + (Alignment - 1)) & ~(Alignment - 1);
            if ((recordType & (int)RecordFraming.Padding) != 0)
            {
                _head += aligned;
                skipped += aligned;
                PublishHead();
                if (skipped >= _capacity)
                {
                    // A writer leaves at most capacity - 8 bytes unconsumed (zero-ahead slack): a whole lap of padding is
                    // a lie, and since consumed padding is never cleared, returning "no data" here would let the
                    // receiver see data again at once and spin on the same lap forever (a hang at 100 % CPU).
                    throw Fault(string.Create(CultureInfo.InvariantCulture,
                        $"padding records cover a whole lap ({skipped} bytes up to position {_head}); a writer leaves at most {_capacity - RecordHeader.Size} bytes unconsumed"));
                }
                continue;
            }
            if (length > _maxRecordLength)
            {
                throw Fault(string.Create(CultureInfo.InvariantCulture,
                    $"record at offset {offset} has length {length}, above the largest record {_maxRecordLength}"));
            }
            _peekedAlignedLength = aligned;
            type = recordType;
            payload = new ReadOnlySpan<byte>(record + RecordHeader.Size, length - RecordHeader.Size);
            return true;
        }
        type = 0;
        payload = default;
        return false;
    }

    /// <summary>
    /// Consumes the record returned by the last successful <see cref="TryPeek"/>.
    /// </summary>
    /// <param name="publish">Store the new head to the shared line now (release). Batch consumers pass false and call <see cref="PublishHead"/> once.</param>
    /// <exception cref="InvalidOperationException">No record was peeked.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Consume(bool publish = true)
    {
        var aligned = _peekedAlignedLength;
        if (aligned == 0)
        {
            ThrowNothingPeeked();
        }
        _peekedAlignedLength = 0;
        _head += aligned;
        if (publish)
        {
            // Release: our reads of the record happen before the writer may reuse its space.
            _publishedHead = _head;
            Volatile.Write(ref *_sharedHead, _head);
        }
    }

    /// <summary>Stores the private head to the shared line (release), returning space to the writer.</summary>
    public void PublishHead()
    {
        _publishedHead = _head;
        Volatile.Write(ref *_sharedHead, _head);
    }

    /// <summary>
    /// Consumes the peeked record; while more records wait (a burst) its space is returned to the writer only
    /// once a quarter of the ring is unreturned, since the writer reads the head line only when short of space
    /// and publishing every record would bounce that line for nothing. When the ring is drained the head is
    /// published at once, so an idle ring always shows its true occupancy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ConsumeLazily()
    {
        Consume(publish: false);
        if (_head - _publishedHead >= _publishThreshold || !HasData)
        {
            PublishHead();
        }
    }

    /// <summary>Publishes the head if records were consumed since it was last published.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishHeadIfStale()
    {
        if (_head != _publishedHead)
        {
            PublishHead();
        }
    }

    /// <summary>
    /// Tells the writer that this reader may sleep: from now on it raises the doorbell after each publish.
    /// Includes a full fence (store-load), the reader's half of the Dekker handshake: re-check for data after it.
    /// </summary>
    public void Arm() => Interlocked.Exchange(ref *_armed, 1);

    /// <summary>Tells the writer that this reader is spinning: the writer skips the doorbell.</summary>
    public void Disarm() => Volatile.Write(ref *_armed, 0);

    /// <summary>Whether the reader is armed (as the writer sees it).</summary>
    public bool IsArmed => Volatile.Read(ref *_armed) != 0;

    private void ValidateClaimed(int length, int offset)
    {
        // A claim in progress: its magnitude must still be a possible record, or the header is garbage.
        if (length == int.MinValue || -length < RecordHeader.Size || -length > _maxRecordLength || ((-length + Alignment - 1) & ~(Alignment - 1)) > _capacity - offset)
        {
            throw Fault(string.Create(CultureInfo.InvariantCulture,
                $"claimed record at offset {offset} has length {length}; a claim must be -{RecordHeader.Size} to -{_maxRecordLength} and inside the data area"));
        }
    }

    /// <summary>Ring faults this reader has raised (each <see cref="RingFaultException"/> thrown counts; owned by the reading thread).</summary>
    public long Faults { get; private set; }

    private RingFaultException Fault(string what)
    {
        _fault = what;
        return Faulted(what);
    }

    /// <summary>Counts and creates a fault found while reading this ring (framing faults found by the endpoint too).</summary>
    internal RingFaultException Faulted(string what)
    {
        Faults++;
        return _ring.Fault(what);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNothingPeeked() => throw new InvalidOperationException("Nothing to consume: call TryPeek and consume only after it returned true.");
}
