using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>
/// The consumer end of a <see cref="DescriptorRing"/>. Not thread safe: one thread reads at a time.
/// <para>It polls the length word at its own head (never a shared tail), so a small record and its descriptor
/// arrive in one cache line. Every shared value is read once into a local and validated before use; a
/// violation faults the reader with a <see cref="RingFaultException"/> that names it, and nothing outside
/// the data area is ever read or written.</para>
/// <para>Consumer clears (layout version 2): records start on 64-byte lines, and when it consumes a record (or
/// padding) the reader zeroes the first word of every line the record covered, in lines it has just read,
/// before the head that returns them to the writer is published (release). So a line start the writer has not
/// written this lap always reads 0, whatever an older, longer record left there: the writer needs no
/// zero-ahead store into the line this reader polls.</para>
/// </summary>
public sealed unsafe class RingReader
{
    private const int Alignment = DescriptorRing.RecordAlignment;

    private readonly DescriptorRing _ring;
    private readonly byte* _data;
    private readonly long* _sharedHead;
    private readonly int* _armed;
    private readonly int* _roomArmed;
    private readonly int _capacity;
    private readonly int _mask;
    private readonly int _maxRecordLength;

    private long _head;
    private long _publishedHead;
    private readonly int _publishThreshold;
    private int _peekedAlignedLength;
    private int _peekedOffset;
    private string? _fault;

    internal RingReader(DescriptorRing ring)
    {
        _ring = ring;
        _data = ring.Data;
        _sharedHead = ring.Head;
        _armed = ring.Armed;
        _roomArmed = ring.RoomArmed;
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
                    // Layout version 2 never publishes a negative length (a claim leaves the header at 0).
                    throw Fault(string.Create(CultureInfo.InvariantCulture,
                        $"record at offset {offset} (position {_head}) has the negative length {length}; a header holds 0 (nothing yet) or a published length"));
                }
                break;
            }
            var recordType = *(int*)(record + RecordHeader.TypeOffset); // read once
            // Bound the length before aligning it: near int.MaxValue the rounding overflows to a negative value.
            // (capacity - offset is a multiple of the alignment, so length <= it exactly when the aligned length is.)
            if (length < RecordHeader.Size || length > _capacity - offset || (recordType & 0xff & ~(int)RecordFraming.All) != 0)
            {
                throw Fault(string.Create(CultureInfo.InvariantCulture,
                    $"record at offset {offset} (position {_head}) has length {length} and type 0x{recordType:x8}; a record must be {RecordHeader.Size} to {_capacity - offset} bytes inside the data area with flags within 0x{(int)RecordFraming.All:x}"));
            }
            var aligned = (length + (Alignment - 1)) & ~(Alignment - 1);
            if ((recordType & (int)RecordFraming.Padding) != 0)
            {
                if (length != _capacity - offset)
                {
                    // Layout version 2: padding only ever fills the rest of the area at a wrap (an aborted claim
                    // publishes nothing), so a short padding record is a lie; a chain of them cannot hold us.
                    throw Fault(string.Create(CultureInfo.InvariantCulture,
                        $"padding at offset {offset} (position {_head}) has length {length}; padding always reaches the end of the data area ({_capacity - offset} bytes from there)"));
                }
                // The lines it covers were not written this lap (cleared when consumed a lap ago, or by the writer's
                // abort); clearing them all again costs little once a lap and keeps the invariant local.
                ClearLines(offset, aligned);
                _head += aligned;
                skipped += aligned;
                PublishHead();
                if (skipped > _capacity)
                {
                    // Consumed padding is cleared, so an honest writer can never make us skip more than a lap in one
                    // call; a peer rewriting padding as fast as we clear it must not hold this thread here.
                    throw Fault(string.Create(CultureInfo.InvariantCulture,
                        $"padding records cover more than a lap ({skipped} bytes up to position {_head}); a writer never publishes more than the ring's capacity ({_capacity} bytes) ahead"));
                }
                continue;
            }
            if (length > _maxRecordLength)
            {
                throw Fault(string.Create(CultureInfo.InvariantCulture,
                    $"record at offset {offset} has length {length}, above the largest record {_maxRecordLength}"));
            }
            _peekedAlignedLength = aligned;
            _peekedOffset = offset;
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
        ClearLines(_peekedOffset, aligned);
        _head += aligned;
        if (publish)
        {
            PublishHead();
        }
    }

    /// <summary>
    /// Stores the private head to the shared line (release: our reads and line clears of the records happen
    /// before the writer may reuse their space), returning space to the writer; then wakes the writer if it
    /// armed "room" because it found the ring full (one load of a line that changes only when it does).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishHead()
    {
        _publishedHead = _head;
        Volatile.Write(ref *_sharedHead, _head);
        if (Volatile.Read(ref *_roomArmed) != 0)
        {
            WakeWriter();
        }
    }

    /// <summary>Times this reader woke a writer that slept on a full ring (owned by the reading thread).</summary>
    public long RoomWakes { get; private set; }

    /// <summary>
    /// Only a 1 -> 0 edge wakes, so a writer that armed once costs one futex wake however many publishes follow.
    /// The writer sleeps on the head word itself with the head it last saw, so the kernel refuses the sleep if
    /// our new head is already there; see <see cref="RingWriter.WaitForRoom"/>. A hostile writer that keeps
    /// re-arming costs us a futex wake per publish, never a hang.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WakeWriter()
    {
        if (Interlocked.CompareExchange(ref *_roomArmed, 0, 1) == 1)
        {
            RoomWakes++;
            IIC.Native.Futex.Wake((int*)_sharedHead, 1);
        }
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

    /// <summary>
    /// Zeroes the first word of each line of a consumed record: plain stores, ordered before the release store of
    /// the head that hands the space back. <paramref name="offset"/> + <paramref name="aligned"/> was validated to
    /// lie inside the data area (a record never runs past its end), so nothing outside it is written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ClearLines(int offset, int aligned)
    {
        var line = _data + offset;
        var end = line + aligned;
        do
        {
            *(long*)line = 0;
            line += Alignment;
        }
        while (line < end);
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
