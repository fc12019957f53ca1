using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Hardware;

/// <summary>
/// The producer end of a <see cref="DescriptorRing"/>. Not thread safe: one thread writes at a time.
/// <para>Protocol (docs/architecture.md, "The data path"; bytes, layout version 2, in docs/window-layout.md): reserve space against a private copy of the
/// consumer's head, re-reading the shared head only when short; write payload and type; store the length last
/// with a release store (the publish; an interlocked exchange, i.e. also the doorbell's full fence, unless the
/// reader promised a global membarrier after arming: see PublishLength). Nothing
/// else: no store into any other record's line; after the publish, one store into the free line at the new tail
/// (its last word, never its start: <see cref="OwnNextLine"/>), so that line is this core's before the next record.</para>
/// <para>Records start on 64-byte cache-line boundaries, so a message of up to 56 bytes and its header travel
/// in one line. The consumer clears the first word of every line it consumed before it returns the space (see
/// <see cref="RingReader"/>), so every line start the writer has not written since reads 0 ("nothing yet"):
/// no zero-ahead store into the line the reader is polling, and the ring may fill to its last byte. A claim
/// leaves its header at 0 until <see cref="Commit"/>: the reader just sees nothing yet.</para>
/// <para>Writer cleans (<see cref="DescriptorRing.WriterCleansEnabled"/>; by default only on rings of <see cref="DescriptorRing.WriterCleansFromCapacity"/> or more): the writer
/// zeroes the line starts itself, in batches a little ahead of its tail (<see cref="CleanAhead"/>), only in lines the
/// reader consumed a lap ago, and says so in the ring's writer-cleans word, so the reader leaves its clears out (as
/// Aeron's conductor cleans a term behind its subscribers and nobody clears per message). Per line and lap that is
/// the writer's store (an upgrade of a line the reader read a lap ago) and the reader's read, as a raw sequence-tagged
/// ring costs, instead of the writer's fetch of a line the reader's clear left modified, the reader's read and its
/// clear. Invariant kept: before any publish, every line start in [tail, tail + 64) reads 0, so the writer keeps one
/// line free (room checks use capacity - 64) and the line after its newest record is always one it may zero.</para>
/// <para>Large interiors left (<see cref="DescriptorRing.InteriorsLeftFlag"/>, every writer that does not clean, since
/// round 23): the reader clears only the first line of a record longer than 64 KiB, and this writer zeroes the line start
/// at the end of any record that lands inside such a record's interior a lap later, before its publish
/// (RingWriter.LargeInteriors.cs). Small records elsewhere pay two compares.</para>
/// </summary>
public sealed unsafe partial class RingWriter
{
    /// <summary>Records start on cache-line boundaries (layout version 2).</summary>
    internal const int Alignment = DescriptorRing.RecordAlignment;

    private readonly DescriptorRing _ring;
    private readonly byte* _data;
    private readonly long* _sharedTail;
    private readonly long* _sharedHead;
    private readonly int* _roomArmed;
    private readonly int* _readerFence;
    private readonly bool _mayPublishPlain; // this process registered for global membarriers (see PublishLength)
    private readonly int _capacity;
    private readonly int _usable; // the capacity the room checks allow: one line less when this writer cleans (see CleanAhead)
    private readonly int _mask;
    private readonly int _maxRecordLength;
    private readonly int _cleanDistance; // how far ahead of the tail a cleaning batch zeroes (0: not cleaning)
    private readonly bool _ownsNextLine; // DescriptorRing.OwnNextLineEnabled when made (see OwnNextLine)

    private long _tail;
    private long _cleanTo; // cleaning: every line start in [_tail, _cleanTo) reads 0 this lap; long.MaxValue when not cleaning
    private long _staleFrom; // large interiors left: line starts in [_staleFrom, _staleBefore) may hold a large record's payload of the lap before
    private long _staleBefore;
    private int _largeAbove = int.MaxValue; // records longer than this leave their interior to this writer's rule; int.MaxValue: no rule
    private long _cachedHead;
    private int _claimOffset = -1;
    private int _claimRecordLength;
    private string? _fault;
    private LinePairPadding _trailingPadding; // ends the object: the next one (the endpoint's reader) is written by another thread

    /// <summary>Bytes from the writer's per-message words to the trailing padding (tests: positive = the padding comes after them).</summary>
    internal long HotWordsToTrailingPadding()
    {
        ref var padding = ref Unsafe.As<LinePairPadding, byte>(ref _trailingPadding);
        return Math.Min(
            Math.Min((long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _tail), ref padding), (long)Unsafe.ByteOffset(ref Unsafe.As<long, byte>(ref _cachedHead), ref padding)),
            Math.Min((long)Unsafe.ByteOffset(ref Unsafe.As<int, byte>(ref _claimOffset), ref padding), (long)Unsafe.ByteOffset(ref Unsafe.As<int, byte>(ref _claimRecordLength), ref padding)));
    }

    internal RingWriter(DescriptorRing ring, bool asymmetricFence, bool cleans = false)
    {
        _ring = ring;
        _readerFence = ring.ReaderFence;
        _mayPublishPlain = asymmetricFence;
        _data = ring.Data;
        _sharedTail = ring.Tail;
        _sharedHead = ring.Head;
        _roomArmed = ring.RoomArmed;
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
        // The flags are sticky: a writer that resumes a ring an earlier writer cleaned keeps cleaning, and one whose earlier
        // writer left large interiors keeps zeroing their ends (its reader may have stopped clearing). Read once.
        var promised = Volatile.Read(ref *ring.WriterCleans);
        cleans |= promised == DescriptorRing.WriterCleansFlag;
        var leavesInteriors = !cleans && (DescriptorRing.InteriorsLeftEnabled || promised == DescriptorRing.InteriorsLeftFlag);
        _usable = cleans ? _capacity - Alignment : _capacity;
        _cleanDistance = cleans ? Math.Min(CleanBatch, _capacity / 4) : 0;
        _ownsNextLine = DescriptorRing.OwnNextLineEnabled;
        // Nothing is assumed clean: the first reservation zeroes from the tail on (on a fresh ring, zeros over zeros).
        _cleanTo = cleans ? _tail : long.MaxValue;
        if (cleans)
        {
            // Release, before any publish of this writer; the reader loads it before each batch of clears it would make.
            Volatile.Write(ref *ring.WriterCleans, DescriptorRing.WriterCleansFlag);
        }
        else if (leavesInteriors)
        {
            StartLeavingInteriors();
            // Release, before any publish of this writer (the reader loads it at each large record it consumes).
            Volatile.Write(ref *ring.WriterCleans, DescriptorRing.InteriorsLeftFlag);
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
        CopyPayload(payload, record + RecordHeader.Size);
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Publish(offset, recordLength, paddingOffset);
        return true;
    }

    /// <summary>
    /// <see cref="TryWrite"/>'s common case, which never throws: writes and publishes one record if no claim is open, the
    /// writer is not faulted, the record does not wrap and it fits behind the cached head. False in every other case
    /// (nothing written): the caller then takes <see cref="TryWrite"/>, which re-reads the head, pads at the wrap and
    /// reports misuse and faults. Lets the sender's fast path run without an exception handler.
    /// </summary>
    /// <param name="payload">At most <see cref="MaxPayloadLength"/> bytes (the caller checked).</param>
    /// <param name="type">The type word.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryWriteFast(ReadOnlySpan<byte> payload, int type)
    {
        Debug.Assert(payload.Length <= MaxPayloadLength, "the caller bounds the payload");
        var recordLength = RecordHeader.Size + payload.Length;
        var aligned = (recordLength + (Alignment - 1)) & ~(Alignment - 1);
        var tailOffset = (int)(_tail & _mask);
        // No wrap (the record ends inside the area) and room behind the cached head: all of [tail, cachedHead + capacity)
        // is ours, its line starts cleared by the consumer (see TryReserve).
        if (_claimOffset >= 0 || _fault is not null || aligned > _capacity - tailOffset || _tail + aligned - _cachedHead > _usable)
        {
            return false;
        }
        _tail += aligned;
        CleanIfDue(_tail - aligned);
        ZeroEndIfStale(aligned);
        var record = _data + tailOffset;
        CopyPayload(payload, record + RecordHeader.Size); // plain stores, ordered by the publish's release; inline up to a line
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Volatile.Write(ref *_sharedTail, _tail); // informational (gauges); before the publish, whose fence covers it
        PublishLength(record, recordLength);
        return true;
    }

    /// <summary>
    /// Reserves a record of <paramref name="payloadLength"/> bytes for in-place writing. Its length word stays 0
    /// (the consumer cleared it): the reader waits at it and never delivers it until <see cref="Commit"/>.
    /// </summary>
    /// <returns>False when there is no room now.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or above <see cref="MaxPayloadLength"/>.</exception>
    /// <exception cref="InvalidOperationException">A claim is already open.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // on the zero-copy echo's hop: one call fewer per claim
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
        if (paddingOffset >= 0)
        {
            PublishPadding(paddingOffset);
        }
        _claimOffset = offset;
        _claimRecordLength = recordLength;
        payload = new Span<byte>(record + RecordHeader.Size, payloadLength);
        return true;
    }

    /// <summary>
    /// <see cref="TryClaim"/>'s common case, which never throws (as <see cref="TryWriteFast"/>): reserves a one-record claim
    /// if no claim is open, the writer is not faulted, the record does not wrap and it fits behind the cached head. False in
    /// every other case (nothing reserved): the caller then takes <see cref="TryClaim"/>, which re-reads the head, pads at
    /// the wrap and reports misuse and faults. Lets the claim's fast path run without an exception handler.
    /// </summary>
    /// <param name="payloadLength">0 to <see cref="MaxPayloadLength"/> bytes (the caller checked).</param>
    /// <param name="type">The type word.</param>
    /// <param name="payload">The claimed payload in place.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryClaimFast(int payloadLength, int type, out Span<byte> payload)
    {
        Debug.Assert((uint)payloadLength <= (uint)MaxPayloadLength, "the caller bounds the payload");
        var recordLength = RecordHeader.Size + payloadLength;
        var aligned = (recordLength + (Alignment - 1)) & ~(Alignment - 1);
        var tailOffset = (int)(_tail & _mask);
        if (_claimOffset >= 0 || _fault is not null || aligned > _capacity - tailOffset || _tail + aligned - _cachedHead > _usable)
        {
            payload = default;
            return false;
        }
        _tail += aligned;
        CleanIfDue(_tail - aligned);
        ZeroEndIfStale(aligned);
        var record = _data + tailOffset;
        // The length word stays 0 (cleared) until Commit. The type word is stored now although the commit stores it again:
        // this first store into the line starts its fetch for ownership (the reader, spinning on it, holds a copy) while
        // the caller writes its payload. Round 14 took it out: the poll-claim echo's p50 rose by 10 ns (LineLab xchan,
        // perf/RESULTS.md "Round 14 (branch claim)").
        *(int*)(record + RecordHeader.TypeOffset) = type;
        _claimOffset = tailOffset;
        _claimRecordLength = recordLength;
        payload = new Span<byte>(record + RecordHeader.Size, payloadLength);
        return true;
    }

    /// <summary>Publishes the open claim with the given type word (release store of the positive length).</summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // between the payload and its publish
    public void Commit(int type)
    {
        var record = _data + TakeClaim();
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Volatile.Write(ref *_sharedTail, _tail); // informational (gauges); before the publish, whose fence covers it
        PublishLength(record, _claimRecordLength);
    }

    /// <summary>
    /// <see cref="Commit"/> for a caller that has just seen <see cref="HasOpenClaim"/> true on this writer's thread (the
    /// channel's commit fast path, issue 17 round 13): the same stores without TakeClaim's second look at the claim.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void CommitOpen(int type)
    {
        var offset = _claimOffset;
        Debug.Assert(offset >= 0, "the caller saw the claim open");
        _claimOffset = -1;
        var record = _data + offset;
        *(int*)(record + RecordHeader.TypeOffset) = type;
        Volatile.Write(ref *_sharedTail, _tail); // informational (gauges); before the publish, whose fence covers it
        PublishLength(record, _claimRecordLength);
    }

    /// <summary>
    /// Gives the open claim's space back: nothing is delivered. The claim is the latest reservation and its header
    /// was never published (it stayed 0), so the tail simply returns to the claim's start (a wrap padding already
    /// published before it stays: the reader follows it to offset 0 and finds nothing yet there). So the only
    /// padding a writer ever publishes reaches exactly the end of the data area, which the reader checks.
    /// </summary>
    /// <exception cref="InvalidOperationException">No claim is open.</exception>
    public void Abort()
    {
        var offset = TakeClaim();
        var aligned = (_claimRecordLength + (Alignment - 1)) & ~(Alignment - 1);
        // The claimer may have written payload over the starts of the claim's lines; the reader must find them 0
        // when records land there later (the clear-on-consume invariant covers only consumed lines). Plain stores,
        // ordered before any later publish by its release; the reader polls none of these lines yet.
        for (var line = 0; line < aligned; line += Alignment)
        {
            *(long*)(_data + offset + line) = 0;
        }
        _tail -= aligned;
        Volatile.Write(ref *_sharedTail, _tail);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int TakeClaim()
    {
        var offset = _claimOffset;
        if (offset < 0)
        {
            ThrowNoClaim();
        }
        _claimOffset = -1;
        return offset;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNoClaim() => throw new InvalidOperationException("No claim is open: call TryClaim first, and Commit or Abort each claim once.");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryReserve(int recordLength, out int offset, out int paddingOffset)
    {
        if (recordLength > _maxRecordLength || recordLength < RecordHeader.Size || _claimOffset >= 0 || _fault is not null)
        {
            ThrowBadReserve(recordLength);
        }
        var tailOffset = (int)(_tail & _mask);
        var needed = Needed(recordLength, tailOffset);
        // The consumer cleared every line start up to its published head (or this writer cleans them, keeping a line
        // free: _usable), so all of [tail, head + capacity) is ours.
        if (_tail + needed - _cachedHead > _usable
            && _tail + needed - ReadHead() > _usable)
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
        CleanIfDue(_tail - aligned); // the record's first line (offset 0 at a wrap); before the caller writes the payload and publishes (the padding too)
        ZeroEndIfStale(needed); // at a wrap the padding and the record as one extent: the reader leaves a large padding's interior too
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
        if (paddingOffset >= 0)
        {
            // Before the record at 0 (as a claim does): a reader that follows the padding finds offset 0 still
            // at 0 ("nothing yet") and waits there for the publish below.
            PublishPadding(paddingOffset);
        }
        Volatile.Write(ref *_sharedTail, _tail); // informational (gauges); before the publish, whose fence covers it
        PublishLength(_data + offset, recordLength);
    }

    /// <summary>Whether the next publish leaves its fence out (the reader promised a global membarrier after arming).</summary>
    internal bool PublishesPlain => _mayPublishPlain && Volatile.Read(ref *_readerFence) == DescriptorRing.ReaderFenceMembarrier;

    /// <summary>
    /// The publish: the record's length word, stored last. Always a release store (payload, type, padding and tail
    /// stores are visible first; partner: the reader's acquire load of the length in
    /// <see cref="RingReader.TryPeek"/>/<see cref="RingReader.HasData"/>). The doorbell's Dekker handshake also needs
    /// this store ordered before the load of "armed" in <see cref="Doorbell.Ring"/>, and one of two fences gives it:
    /// <list type="bullet">
    /// <item>S1' (asymmetric): when this process is registered for global membarriers and the reader's "reader
    /// fence" word says it issues one after every arm, a plain release store (<c>mov</c> on x64, <c>stlr</c> on
    /// arm64: no locked instruction). Partner R1': the reader stores armed, then <c>membarrier(GLOBAL_EXPEDITED)</c>
    /// runs a full barrier on this thread's CPU (or this thread was not running, and its context switch was one),
    /// then re-checks the ring. Either this store was visible before that barrier completed (the re-check sees it),
    /// or our load of armed runs after the barrier and sees 1. The reader sets the word before its first arm and
    /// never clears it while asymmetric, so reading 1 here is a promise that covers every later arm; a peer that
    /// lies about it only loses its own wake-ups.</item>
    /// <item>S1/S2 (fallback: a reader without membarrier, or this process unregistered): an interlocked exchange,
    /// one <c>xchg</c> on x64 or a sequentially consistent swap on arm64, which is the release store and the full
    /// fence in one (partner R1: the reader's exchange of armed, then its re-check).</item>
    /// </list>
    /// The reader-fence word sits in the armed line, which the doorbell loads after the publish anyway (an L1 hit
    /// while the reader spins).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PublishLength(byte* record, int recordLength)
    {
        Debug.Assert(recordLength >= RecordHeader.Size, "a published record holds at least its header");
        Debug.Assert(((nint)record & (Alignment - 1)) == 0, "records start on a line");
        if (PublishesPlain)
        {
            Volatile.Write(ref *(int*)record, recordLength); // S1' (docs/architecture.md); partner R1'
        }
        else
        {
            Interlocked.Exchange(ref *(int*)record, recordLength); // S1/S2; partner R1
        }
        OwnNextLine();
    }

    /// <summary>Where in a line the pre-own store goes: its last word, never the line start a reader polls.</summary>
    internal const int OwnWordOffset = Alignment - sizeof(int);

    /// <summary>
    /// The pre-own store (issue 17 round 11, docs/window-layout.md 2.2 step 8): after a publish, a plain store of 0 into
    /// the last word of the line at the new tail, where the next record will start, so that line comes into this core's
    /// cache in the modified state now, while the peer handles the record just published, and the next publish does not
    /// wait for the line's ownership on the message's critical path (perf/IIC.LineLab: the writer's fetch of a line it
    /// has not written for a lap was most of a hop's cost above the placement probe; a read prefetch does not help).
    /// <para>Safe because: the line is free space, ours by the cached head (<c>tail + 64 - cachedHead &lt;= capacity</c>;
    /// the consumer's clears of it were ordered before the head store we acquired); the word is never a line start, so the
    /// clear-on-consume invariant (every free line start reads 0) is untouched, and a reader reads nothing of a line but
    /// its start until a record there is published; the next record overwrites the word or leaves it inside its unused
    /// tail. The store is after the publish in program order, so on x64 (TSO) it never delays it; on arm64 it may become
    /// visible first, which changes nothing a reader can see. When the cached head says the line may still be the
    /// reader's, nothing is stored (the head is not re-read for this).</para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void OwnNextLine()
    {
        if (_ownsNextLine && _tail + Alignment - _cachedHead <= _capacity)
        {
            *(int*)(_data + (int)(_tail & _mask) + OwnWordOffset) = 0;
        }
    }

    /// <summary>
    /// The pre-own store of <see cref="OwnNextLine"/>, made at the start of a send that answers a receive (round 21,
    /// <c>RoleGate.ReplyHint</c>): by then the peer, waiting for the reply, has read the line at the tail (it polls its
    /// start), so the store after the previous publish no longer holds it; made before the send's checks, the fetch for
    /// ownership starts some 60 instructions before the copy's first store would start it. The same store under the same
    /// rule as OwnNextLine (free space by the cached head, never a line start), so it is always safe.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void TakeTailLineEarly() => OwnNextLine();

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
