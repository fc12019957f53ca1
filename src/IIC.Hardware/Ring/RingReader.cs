using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>
/// The consumer end of a <see cref="DescriptorRing"/>. Not thread safe: one thread reads at a time.
/// <para>It polls the length word at its own head (never a shared tail), so a small record and its descriptor
/// arrive in one cache line. Every shared value is read once into a local and validated before use; a
/// violation faults the reader with a <see cref="RingFaultException"/> that names it, and nothing outside
/// the data area is ever read or written.</para>
/// <para>Consumer clears (layout version 2): records start on 64-byte lines, and before it publishes a head that
/// returns consumed lines to the writer, the reader zeroes the first word of every one of those lines (lines it
/// has read), then stores the head (release). So a line start the writer has not written this lap always reads 0,
/// whatever an older, longer record left there: the writer needs no zero-ahead store into the line this reader
/// polls.</para>
/// <para>Clears are batched with the head store (as Agrona's OneToOneRingBuffer clears and publishes once per read
/// batch): consuming a record only advances the private head; its lines are cleared by the next
/// <see cref="PublishHead"/> (or once 4 KiB of consumed lines wait, while they are still in this core's cache),
/// just before the head store that returns them. A caught-up reader returns its last records when it next finds the
/// ring empty, not as it consumes them (<see cref="ConsumeLazily"/>, <see cref="HoldBackLimit"/>), as Aeron's
/// subscriber publishes its position after a poll rather than per fragment.</para>
/// <para>When the ring's writer-cleans word says the writer zeroes line starts itself before reusing them
/// (<see cref="DescriptorRing.WriterCleansEnabled"/>), the reader makes no clears at all: it only advances and stores
/// its head.</para>
/// <para>When it says the writer zeroes the end of any record that lands in an old large record's interior
/// (<see cref="DescriptorRing.InteriorsLeftFlag"/>), the reader clears only the first line of a record longer than
/// <see cref="DescriptorRing.LargeRecordLength"/> (RingReader.Clears.cs).</para>
/// </summary>
public sealed unsafe partial class RingReader
{
    private const int Alignment = DescriptorRing.RecordAlignment;

    private readonly DescriptorRing _ring;
    private readonly byte* _data;
    private readonly long* _sharedHead;
    private readonly int* _armed;
    private readonly int* _roomArmed;
    private readonly int* _writerCleans;
    private readonly int* _readerFence;
    private bool _asymmetricFence; // this reader issues a global membarrier after arming (cleared if the kernel ever refuses one)
    private bool _armedSinceFence; // armed, fenced by a membarrier, and not disarmed since
    private readonly int _capacity;
    private readonly int _mask;
    private readonly int _maxRecordLength;

    private long _head;
    private long _publishedHead;
    private long _clearedHead; // lines in [_clearedHead, _head) are consumed and not yet cleared; _publishedHead <= _clearedHead
    private readonly int _holdBackLimit;
    private readonly bool _lookAhead; // DescriptorRing.LookAheadEnabled when made (A/B switch)
    private int _peekedAlignedLength;
    private int _peekedOffset;
    private string? _fault;
    private LinePairPadding _trailingPadding; // ends the object: the next one (the endpoint's doorbell) is written by the sending thread

    /// <summary>Bytes from the reader's per-message words to the trailing padding (tests: positive = the padding comes after them).</summary>
    internal long HotWordsToTrailingPadding()
    {
        ref var padding = ref Unsafe.As<LinePairPadding, byte>(ref _trailingPadding);
        return Math.Min(
            Math.Min((long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _head), ref padding), (long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _clearedHead), ref padding)),
            Math.Min((long)Unsafe.ByteOffset(ref Unsafe.As<int, byte>(ref _peekedAlignedLength), ref padding), (long)Unsafe.ByteOffset(ref Unsafe.As<int, byte>(ref _peekedOffset), ref padding)));
    }

    internal RingReader(DescriptorRing ring, bool asymmetricFence)
    {
        _ring = ring;
        _readerFence = ring.ReaderFence;
        _asymmetricFence = asymmetricFence;
        _data = ring.Data;
        _sharedHead = ring.Head;
        _armed = ring.Armed;
        _roomArmed = ring.RoomArmed;
        _writerCleans = ring.WriterCleans;
        _capacity = ring.Capacity;
        _mask = ring.Capacity - 1;
        _maxRecordLength = ring.MaxRecordLength;
        _holdBackLimit = DescriptorRing.HoldBackEnabled ? Math.Min(ClearBatch, ring.Capacity / 8) : 0; // 0: every consume publishes
        _lookAhead = DescriptorRing.LookAheadEnabled;
        _head = Volatile.Read(ref *_sharedHead);
        _publishedHead = _head;
        _clearedHead = _head;
        if (_head < 0 || (_head & (Alignment - 1)) != 0)
        {
            throw ring.Fault(string.Create(CultureInfo.InvariantCulture, $"head {_head} is negative or misaligned"));
        }
        // Before this reader's first arm (it cannot arm before it exists): from now on the writer may publish
        // without a fence, because every arm below is followed by a global membarrier. Release: nothing to order,
        // but one store the writer reads with an acquire.
        Volatile.Write(ref *_readerFence, asymmetricFence ? DescriptorRing.ReaderFenceMembarrier : 0);
    }

    /// <summary>Whether this reader arms with a global membarrier (so its writer may publish without a fence).</summary>
    internal bool UsesAsymmetricFence => _asymmetricFence;

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
    /// The length word at the head, for a spin that looks at nothing else (WindowEndpoint's clock-free spin): a pointer
    /// into the data area (the offset is masked), valid while the head does not move (only this reader moves it) and the
    /// mapping stays (the caller is inside its receive role). A positive value read from it with an acquire load is what
    /// <see cref="HasData"/> reports; <see cref="TryPeekFast"/> then reads it again and validates it.
    /// </summary>
    internal int* HeadWord
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (int*)(_data + (int)(_head & _mask));
    }

    /// <summary>The head record's offset in the data area (<see cref="HeadWord"/> is the data area's start plus this).</summary>
    internal int HeadOffset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (int)(_head & _mask);
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
            ThrowFaulted();
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
                    ThrowNegativeLength(offset, length);
                }
                break;
            }
            var recordType = *(int*)(record + RecordHeader.TypeOffset); // read once
            // Bound the length before aligning it: near int.MaxValue the rounding overflows to a negative value.
            // (capacity - offset is a multiple of the alignment, so length <= it exactly when the aligned length is.)
            if (length < RecordHeader.Size || length > _capacity - offset || (recordType & 0xff & ~(int)RecordFraming.All) != 0)
            {
                ThrowBadRecord(offset, length, recordType);
            }
            var aligned = (length + (Alignment - 1)) & ~(Alignment - 1);
            if ((recordType & (int)RecordFraming.Padding) != 0)
            {
                if (length != _capacity - offset)
                {
                    // Layout version 2: padding only ever fills the rest of the area at a wrap (an aborted claim
                    // publishes nothing), so a short padding record is a lie; a chain of them cannot hold us.
                    ThrowShortPadding(offset, length);
                }
                // The lines it covers were not written this lap (cleared when consumed a lap ago, or by the writer's
                // abort, or left as a large interior); PublishHead clears them all again with the rest, which keeps
                // the invariant local, unless the padding is large and the writer zeroes ends in it (round 23: a
                // padding of up to a quarter ring per lap was a pass of clears over memory nobody reads).
                _head += aligned;
                skipped += aligned;
                if (aligned > DescriptorRing.LargeRecordLength)
                {
                    LeaveLargeInterior(aligned);
                }
                PublishHead();
                if (skipped > _capacity)
                {
                    // Consumed padding is cleared, so an honest writer can never make us skip more than a lap in one
                    // call; a peer rewriting padding as fast as we clear it must not hold this thread here.
                    ThrowPaddingBeyondLap(skipped);
                }
                continue;
            }
            if (length > _maxRecordLength)
            {
                ThrowRecordTooLong(offset, length);
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
    /// <see cref="TryPeek"/>'s common case, which never throws: a published record of exactly <paramref name="type"/> (no
    /// padding, no other flags) that passes TryPeek's bounds is peeked as TryPeek would. False in every other case (nothing
    /// published, padding, another type, anything TryPeek would fault on, a faulted reader), with nothing peeked or
    /// changed: the caller then takes TryPeek, which skips padding and reports faults. Lets a receive's fast path run
    /// without an exception handler. The length and type are read once (acquire on the length, as TryPeek) and
    /// validated before the payload span is made: it lies inside the data area.
    /// </summary>
    /// <param name="type">The one type word accepted (e.g. a whole message).</param>
    /// <param name="payload">The record's payload in place, valid until <see cref="Consume"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryPeekFast(int type, out ReadOnlySpan<byte> payload)
    {
        var offset = (int)(_head & _mask);
        var record = _data + offset;
        var length = Volatile.Read(ref *(int*)record); // acquire: partner the writer's release of the length (the publish)
        return TryPeekSeen(type, record, offset, length, out payload);
    }

    /// <summary>
    /// <see cref="TryPeekFast"/> for a caller that already made the acquire load of the head record's length word, e.g. a
    /// spin that waited for it to turn positive (issue 17, round 21): that value is the one validated and used, so the spin
    /// that saw the record does not load the reader's fields and the length again to peek it, a chain of dependent loads
    /// between seeing a message and handing it out. <paramref name="record"/> and <paramref name="offset"/> are the head's,
    /// taken from this reader (<see cref="HeadWord"/>, <see cref="HeadOffset"/>) while no consume ran since (the caller is
    /// the only reader, inside its receive role): trusted; <paramref name="length"/> came from shared memory and is
    /// validated here exactly as TryPeekFast validates its own load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryPeekSeen(int type, byte* record, int offset, int length, out ReadOnlySpan<byte> payload)
    {
        Debug.Assert(offset == (int)(_head & _mask) && record == _data + offset, "the caller peeks at the head");
        // One unsigned compare for length < Size or length > max; the type must be exactly the one asked for (no padding).
        if ((uint)(length - RecordHeader.Size) > (uint)(_maxRecordLength - RecordHeader.Size) || length > _capacity - offset
            || *(int*)(record + RecordHeader.TypeOffset) != type || _fault is not null)
        {
            payload = default;
            return false;
        }
        _peekedAlignedLength = (length + (Alignment - 1)) & ~(Alignment - 1);
        _peekedOffset = offset;
        payload = new ReadOnlySpan<byte>(record + RecordHeader.Size, length - RecordHeader.Size);
        return true;
    }

    /// <summary>
    /// Consumes the record returned by the last successful <see cref="TryPeek"/>: advances the private head. Its
    /// lines are cleared and returned to the writer by the next <see cref="PublishHead"/>.
    /// </summary>
    /// <param name="publish">Clear and return the space now (<see cref="PublishHead"/>). Batch consumers pass false and publish once.</param>
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
        Debug.Assert(_peekedOffset == (int)(_head & _mask), "the peeked record is the one at the head");
        _head += aligned;
        if (aligned > DescriptorRing.LargeRecordLength)
        {
            LeaveLargeInterior(aligned);
        }
        if (_head - _clearedHead >= ClearBatch)
        {
            // A large record, or many small ones: clear now, while the lines are still in this core's cache.
            ClearConsumedLines();
        }
        if (publish)
        {
            PublishHead();
        }
    }

    /// <summary>
    /// Clears the first word of every line consumed since the last publish, then stores the private head to the
    /// shared line (release: our reads and clears of those lines happen before the writer may reuse them; partner:
    /// the writer's acquire load of the head in <see cref="RingWriter"/>'s ReadHead), returning space to the
    /// writer; then wakes the writer if it armed "room" because it found the ring full (one load of a line that
    /// changes only when it does).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PublishHead()
    {
        ClearConsumedLines();
        _publishedHead = _head;
        Volatile.Write(ref *_sharedHead, _head);
        if (Volatile.Read(ref *_roomArmed) != 0)
        {
            WakeWriter();
        }
    }

    /// <summary>Times this reader woke a writer that slept on a full ring (owned by the reading thread).</summary>
    internal long RoomWakes { get; private set; }

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
    /// Consumes the peeked record and returns its space to the writer only once <see cref="HoldBackLimit"/> bytes of
    /// consumed lines wait (<see cref="PublishHeadIfOverdue"/>). The rest is returned by the caller when it next finds
    /// the ring empty (<see cref="PublishHeadIfStale"/>, before it spins or sleeps), i.e. off the message's critical
    /// path: the clear of a consumed line is a store into a line the writer also holds (a coherence round trip), and
    /// made right after the read it sat in the store buffer ahead of the reply the caller sends next (x64 commits
    /// stores in order), which delayed that reply by about one line transfer per hop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ConsumeLazily()
    {
        Consume(publish: false);
        // No look at the next record's header here (unless the A/B switch asks for it): that line is usually not in
        // this core's cache (the writer has not written it yet, or holds it), and a load that misses blocks the
        // retirement of everything after it, so the reply the caller publishes next could not leave the store buffer
        // before that miss resolved: a line transfer on the critical path of every echo. The raw-shm ring does not
        // look either; the caller's next poll or wait reads the header anyway (perf/RESULTS.md, "Branch raw (round 7)").
        if (_lookAhead && !HasData)
        {
            CaughtUpConsumes++;
        }
        PublishHeadIfOverdue();
    }

    /// <summary>
    /// <see cref="ConsumeLazily"/> for the record <see cref="TryPeekFast"/> just peeked (the receive fast path's loop, issue 17
    /// round 13): the same effect with fewer instructions per message. No check that a record was peeked (the caller's
    /// TryPeekFast returned true, so one was), and one compare for both batched stores: the head is published (and its
    /// lines cleared) once <see cref="HoldBackLimit"/> bytes wait, which is never later than the clear batch would clear
    /// them (HoldBackLimit &lt;= ClearBatch, and the published head never passes the cleared one), so Consume's own
    /// ClearBatch check can never fire first here.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ConsumePeekedLazily()
    {
        Debug.Assert(_peekedAlignedLength != 0 && _peekedOffset == (int)(_head & _mask), "TryPeekFast peeked the record at the head");
        Debug.Assert(_holdBackLimit <= ClearBatch, "a hold-back publish clears no later than the clear batch");
        var aligned = _peekedAlignedLength;
        _head += aligned;
        _peekedAlignedLength = 0;
        if (aligned > DescriptorRing.LargeRecordLength)
        {
            LeaveLargeInterior(aligned);
        }
        if (_lookAhead && !HasData)
        {
            CaughtUpConsumes++;
        }
        if (_head - _publishedHead >= _holdBackLimit)
        {
            PublishHeadOutOfLine();
        }
    }

    /// <summary><see cref="PublishHead"/> out of line: once per hold-back batch (4 KiB) in a loop that runs per message.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PublishHeadOutOfLine() => PublishHead();

    /// <summary>Lazy consumes after which no further record waited (counted only by readers made with the look-ahead switch on; owned by the reading thread).</summary>
    internal long CaughtUpConsumes { get; private set; }

    /// <summary>
    /// The most consumed space a caught-up reader holds back between its calls: min(4 KiB, capacity / 8). A writer
    /// never needs more than capacity / 2 + 64 bytes free for one reservation (the largest record, its Abandon reserve
    /// and a wrap's padding), so with the reader caught up and at most this much held back, the writer's next record
    /// always fits: holding space back can delay the writer only while unread records fill the ring, never while the
    /// reader waits for more.
    /// </summary>
    internal int HoldBackLimit => _holdBackLimit;

    /// <summary>Publishes the head once <see cref="HoldBackLimit"/> or more bytes of consumed lines wait (a burst: every 4 KiB at most).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void PublishHeadIfOverdue()
    {
        if (_head - _publishedHead >= _holdBackLimit)
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
    /// Includes the reader's half of the Dekker handshake: re-check for data after it.
    /// <para>R1' (asymmetric, docs/architecture.md): store armed, then <c>membarrier(GLOBAL_EXPEDITED)</c>, the heavy
    /// fence that stands in for the one the writer leaves out of its publish (partner S1' in RingWriter.PublishLength;
    /// costs ~1-3 µs, paid only on the way to sleep). A ring still armed since its last such fence needs none: every
    /// publish since then either was visible to the re-check that followed that fence or loads armed = 1. If the
    /// kernel ever refuses the call, this reader falls back for good: it clears its reader-fence word (later publishes
    /// are fenced again; one publish already under way may miss its doorbell, and the sleep's park timeout bounds
    /// that delay) and arms with the exchange.</para>
    /// <para>R1 (fallback): <c>Interlocked.Exchange(armed, 1)</c>, a full fence; partner S1/S2, the writer's
    /// publish exchange, then its load of armed in <see cref="Doorbell.Ring"/>.</para>
    /// Call it from the reading thread; a sleeping reader should first return what it consumed
    /// (<see cref="PublishHeadIfStale"/>).
    /// </summary>
    public void Arm()
    {
        if (_asymmetricFence)
        {
            if (_armedSinceFence)
            {
                return;
            }
            Volatile.Write(ref *_armed, 1); // R1': ordered before the re-check by the membarrier below
            if (IIC.Native.Membarrier.GlobalExpedited())
            {
                _armedSinceFence = true;
                return;
            }
            _asymmetricFence = false;
            Volatile.Write(ref *_readerFence, 0);
        }
        Interlocked.Exchange(ref *_armed, 1); // R1
    }

    /// <summary>Tells the writer that this reader is spinning: the writer skips the doorbell.</summary>
    public void Disarm()
    {
        _armedSinceFence = false;
        Volatile.Write(ref *_armed, 0); // R7
    }

    /// <summary>Whether the reader is armed (as the writer sees it).</summary>
    internal bool IsArmed => Volatile.Read(ref *_armed) != 0;
}
