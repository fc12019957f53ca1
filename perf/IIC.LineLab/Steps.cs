using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace IIC.LineLab;

/// <summary>What one step does per hop; every member a constant the JIT folds (one specialisation per step). Each member
/// has the probe's value as its default (nothing added), so a step's shape names only what it adds.</summary>
internal interface IHopShape
{
    /// <summary>A 32 B payload (four words: the sequence and three pattern words) travels in the header's line.</summary>
    static virtual bool Payload => false;

    /// <summary>The reader reads all four payload words and checks their sum (else only the sequence word).</summary>
    static virtual bool Checksum => false;

    /// <summary>A new 64-byte line per message in a ring of <see cref="Capacity"/> bytes (else the same flag line).</summary>
    static virtual bool Ring => false;

    /// <summary>Ring bytes (a power of two; ignored for the flag line).</summary>
    static virtual int Capacity => 0;

    /// <summary>
    /// iic's length protocol: the header is a length word (0 = nothing yet), and the consumer zeroes the first word of
    /// each line it consumed when it next finds the ring empty (RingReader.PublishHeadIfStale). Else a sequence tag
    /// (raw-shm's slot ring): nothing is ever cleared.
    /// </summary>
    static virtual bool Clear => false;

    /// <summary>The consumer stores its head (and loads the room-armed word) whenever it finds the ring empty with
    /// something consumed, as iic's poll does; else every quarter ring, as raw-shm does.</summary>
    static virtual bool HeadEach => false;

    /// <summary>The writer loads the reader's armed word after each publish (the doorbell).</summary>
    static virtual bool Armed => false;

    /// <summary>The publish is an interlocked exchange (the full-fence fallback) rather than a release store.</summary>
    static virtual bool Exchange => false;

    /// <summary>The writer stores its informational shared tail before each publish.</summary>
    static virtual bool Tail => false;

    /// <summary>Both sides count messages (plain increments of fields in a private object).</summary>
    static virtual bool Counters => false;

    /// <summary>After each publish the writer prefetches (a read prefetch, <c>prefetcht0</c>) the line it writes next.</summary>
    static virtual bool PrefetchWriter => false;

    /// <summary>As it consumes, the reader prefetches the line after the one it polls next.</summary>
    static virtual bool PrefetchReader => false;

    /// <summary>After each publish the writer takes its next line exclusive (an atomic OR of 0 into its last word).</summary>
    static virtual bool OwnNext => false;

    /// <summary>After each publish the writer stores 0 into the last word of its next line (a plain store: never the line
    /// start the reader polls; the line is free space), so the line's ownership comes here before the record is written.</summary>
    static virtual bool StoreNext => false;

    /// <summary>Bytes from one message's line to the next (round 15: 128 and 256 leave the lines between unused, so a
    /// next-line or adjacent-line prefetch by the reader fetches a line the writer is not about to write).</summary>
    static virtual int Stride => 64;

    /// <summary>Bytes added to ring B's data offset (the replies' ring), so a request and its reply do not lie at the same
    /// offset within their pages (round 15: the 4 KiB-aliasing question; at most 3712, the rings' slack).</summary>
    static virtual int ReplySkew => 0;

    /// <summary>Round 15: the moment a side sees a message arrive, it stores 0 into the last word of the line it writes
    /// next (the reply's line on the echo side, the next request's on the measuring side), so that line's fetch for
    /// ownership overlaps the checks and the copy instead of starting at the reply's first store.</summary>
    static virtual bool OwnOnDetect => false;
}

/// <summary>One step of the lab: a name, what it adds, and its two halves.</summary>
internal abstract unsafe class Step(string name, string description)
{
    public string Name { get; } = name;

    public string Description { get; } = description;

    /// <summary>The measuring half: <paramref name="trips"/> timed round trips (send on ring A, wait for the echo on B).</summary>
    public abstract void Client(byte* ringOut, byte* ringIn, int trips, long[] samples);

    /// <summary>The echoing half: take each message from ring A in place, check it, write it into ring B, consume.</summary>
    public abstract void Server(byte* ringIn, byte* ringOut, int trips);
}

/// <summary>The per-message counters of a side (the endpoint's statistics fields, in the lab's shape).</summary>
internal sealed class CounterBlock
{
    public long Sent;
    public long Received;
    public long Bytes;
}

/// <summary>A step's code: one generic specialisation per shape, so no flag costs a branch at run time.</summary>
internal sealed unsafe class HopStep<TShape>(string name, string description) : Step(name, description)
    where TShape : struct, IHopShape
{
    private const int Line = 64;
    private const int DataOffset = 384;
    private const int HeadOffset = 128;
    private const int ArmedOffset = 256;
    private const int RoomArmedOffset = 320;
    private const int WholeMessage = 3;
    private const long P1 = 0x0123456789abcdef;
    private const long P2 = 0x1111222233334444;
    private const long P3 = 0x5555666677778888;
    private static readonly CounterBlock s_counters = new();

    private static int Mask => TShape.Ring ? TShape.Capacity - 1 : 0;

    public override void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        var writer = new Writer(DataOffset);
        var reader = new Reader(DataOffset + TShape.ReplySkew);
        for (var i = 0; i < trips; i++)
        {
            var before = Stopwatch.GetTimestamp();
            var record = writer.Reserve(ringOut);
            if (TShape.Payload)
            {
                // What StampWriter does: the template's bytes, then the sequence stamped in.
                *(long*)(record + 8) = i;
                *(long*)(record + 16) = P1;
                *(long*)(record + 24) = P2;
                *(long*)(record + 32) = P3;
            }
            writer.Publish(ringOut, record, i);
            var echo = reader.Wait(ringIn, i, writer.Reserve(ringOut));
            reader.Consume();
            var after = Stopwatch.GetTimestamp();
            if (echo != i)
            {
                Throw(i, echo);
            }
            samples[i] = after - before;
        }
    }

    public override void Server(byte* ringIn, byte* ringOut, int trips)
    {
        var writer = new Writer(DataOffset + TShape.ReplySkew);
        var reader = new Reader(DataOffset);
        for (var i = 0; i < trips; i++)
        {
            var request = reader.Wait(ringIn, i, writer.Reserve(ringOut));
            if (request != i)
            {
                Throw(i, request);
            }
            // iic's poll-claim echo: the handler copies the message into a claim and commits it inside the poll, and the
            // request is consumed after.
            var record = writer.Reserve(ringOut);
            if (TShape.Payload)
            {
                var source = reader.Current + 8;
                Unsafe.CopyBlockUnaligned(record + 8, source, 32);
            }
            writer.Publish(ringOut, record, i);
            reader.Consume();
        }
        reader.AtEmpty(ringIn); // leave nothing pending (the next run zeroes the rings anyway)
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(long expected, long got) => throw new InvalidDataException($"expected message {expected}, got {got}");

    private struct Writer(int dataOffset)
    {
        private readonly int _dataOffset = dataOffset;
        private long _tail;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly byte* Reserve(byte* ring)
            => ring + _dataOffset + (TShape.Ring ? (int)(_tail & Mask) : 0);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Publish(byte* ring, byte* record, long sequence)
        {
            // No room check: one message is in flight, and the reader has cleared (or passed) a line a lap before the
            // writer comes back to it.
            _tail += TShape.Stride;
            if (TShape.Tail)
            {
                Volatile.Write(ref *(long*)ring, _tail);
            }
            if (TShape.Clear)
            {
                *(int*)(record + 4) = WholeMessage;
                var length = TShape.Payload ? 8 + 32 : 8;
                if (TShape.Exchange)
                {
                    Interlocked.Exchange(ref *(int*)record, length);
                }
                else
                {
                    Volatile.Write(ref *(int*)record, length);
                }
            }
            else if (TShape.Exchange)
            {
                Interlocked.Exchange(ref *(long*)record, sequence + 1);
            }
            else
            {
                Volatile.Write(ref *(long*)record, sequence + 1);
            }
            if (TShape.Armed && Volatile.Read(ref *(int*)(ring + ArmedOffset)) != 0)
            {
                Throw(0, 1); // nobody arms in the lab
            }
            if (TShape.Counters)
            {
                s_counters.Sent++;
                s_counters.Bytes += 32;
            }
            if (TShape.PrefetchWriter)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(ring + _dataOffset + (int)(_tail & Mask));
            }
            if (TShape.OwnNext)
            {
                // A no-op read-modify-write (whatever the word holds stays): the line comes here in M before it is written.
                Interlocked.Or(ref *(int*)(ring + _dataOffset + (int)(_tail & Mask) + 60), 0);
            }
            if (TShape.StoreNext)
            {
                *(int*)(ring + _dataOffset + (int)(_tail & Mask) + 60) = 0;
            }
        }
    }

    private struct Reader(int dataOffset)
    {
        private readonly int _dataOffset = dataOffset;
        private long _head;
        private long _published;
        private long _cleared;

        public byte* Current;
        private byte* _data;

        /// <summary>Spins until message <paramref name="sequence"/> is at the head; returns the sequence it carries.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long Wait(byte* ring, long sequence, byte* nextWrite)
        {
            _data = ring + _dataOffset;
            var record = _data + (TShape.Ring ? (int)(_head & Mask) : 0);
            Current = record;
            if (TShape.Clear)
            {
                int length;
                while ((length = Volatile.Read(ref *(int*)record)) == 0)
                {
                    AtEmpty(ring);
                }
                if (TShape.OwnOnDetect)
                {
                    *(int*)(nextWrite + 60) = 0; // free space of the line written next (never its first word, which a reader polls)
                }
                var type = *(int*)(record + 4);
                if (length != (TShape.Payload ? 40 : 8) || type != WholeMessage)
                {
                    Throw(sequence, -length);
                }
            }
            else
            {
                while (Volatile.Read(ref *(long*)record) != sequence + 1)
                {
                    AtEmpty(ring);
                }
                if (TShape.OwnOnDetect)
                {
                    *(int*)(nextWrite + 60) = 0;
                }
            }
            if (!TShape.Payload)
            {
                return sequence;
            }
            var stamp = *(long*)(record + 8);
            if (TShape.Checksum)
            {
                var sum = stamp + *(long*)(record + 16) + *(long*)(record + 24) + *(long*)(record + 32);
                if (sum != sequence + P1 + P2 + P3)
                {
                    Throw(sequence, sum);
                }
            }
            return stamp;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Consume()
        {
            _head += TShape.Stride;
            if (TShape.PrefetchReader)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(_data + (int)((_head + TShape.Stride) & Mask));
            }
            if (TShape.Counters)
            {
                s_counters.Received++;
            }
        }

        /// <summary>The ring is empty: iic clears what it consumed and publishes its head here (raw-shm: every quarter ring).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void AtEmpty(byte* ring)
        {
            if (_head == _published)
            {
                return;
            }
            if (TShape.Clear && _cleared != _head)
            {
                var data = ring + _dataOffset;
                for (var position = _cleared; position < _head; position += TShape.Stride)
                {
                    *(long*)(data + (int)(position & Mask)) = 0;
                }
                _cleared = _head;
            }
            if (TShape.HeadEach || _head - _published >= (TShape.Ring ? TShape.Capacity / 4 : 4096))
            {
                Volatile.Write(ref *(long*)(ring + HeadOffset), _head);
                _published = _head;
                if (TShape.HeadEach && Volatile.Read(ref *(int*)(ring + RoomArmedOffset)) != 0)
                {
                    Throw(0, 2); // nobody arms room in the lab
                }
            }
        }
    }
}
