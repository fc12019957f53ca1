using System.Buffers.Binary;

namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 23): large interiors left. The reader clears only the first line of a record longer than
/// <see cref="DescriptorRing.LargeRecordLength"/> when its writer promised (<see cref="DescriptorRing.InteriorsLeftFlag"/>)
/// to zero the end of any record that lands inside such an interior a lap later. What must hold: the interior's line
/// starts really are left (the reader's second pass over the record is gone), the records of the next laps that end in
/// them arrive exactly and the reader then finds nothing (a payload of 0x7f makes every old line start look like a
/// published length), small records elsewhere cost the writer no store, a writer that did not promise still gets its
/// reader's clears, and a writer that resumes a ring zeroes every end of its first lap.
/// </summary>
public sealed class LargeInteriorTests
{
    private const int Line = 64;
    private const int Capacity = 512 << 10; // the largest record is 128 KiB
    private const int LargePayload = 100_000; // 1563 lines: above the 64 KiB threshold
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Fact]
    public void A_reader_leaves_a_large_records_interior_and_the_small_records_that_land_in_it_later_arrive_exactly()
    {
        Assert.True(DescriptorRing.InteriorsLeftEnabled, "run without IIC_LARGE_INTERIORS=0");
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var reader = ring.CreateReader();
        Assert.True(writer.LeavesInteriors);
        Assert.Equal(DescriptorRing.InteriorsLeftFlag, window.Memory.ReadAcquireInt32(ring.Offset + DescriptorRing.WriterCleansOffset));
        var sequence = 0;
        Exchange(writer, reader, 1, ref sequence); // the large record starts at line 1, not at the area's start

        var start = WriteLarge(writer, reader);
        Assert.Equal(1, reader.InteriorsLeft);
        Assert.Equal(0, LineStart(window, ring, start)); // its header line is cleared as any
        var interiorLines = ((RecordHeader.Size + LargePayload + Line - 1) / Line) - 1;
        for (var line = 1; line <= interiorLines; line++)
        {
            Assert.True(LineStart(window, ring, start + (line * Line)) == 0x7f7f7f7f7f7f7f7f, $"the reader cleared interior line {line} of the large record");
        }
        Assert.Equal(0, writer.EndsZeroed); // nothing has landed in an interior yet

        // Two laps of small records of one to three lines, in batches that end anywhere: whenever a batch's last record
        // ends inside the old interior, the reader would find 0x7f7f7f7f there if the writer had not zeroed it.
        SmallLaps(writer, reader, 2 * Capacity, ref sequence);
        Assert.True(writer.EndsZeroed >= interiorLines / 3, $"the writer zeroed {writer.EndsZeroed} ends in an interior of {interiorLines} lines");
        Assert.Equal(1, reader.InteriorsLeft);
    }

    [Fact]
    public void Small_records_alone_cost_the_writer_no_store_and_their_lines_are_cleared_by_the_reader()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var reader = ring.CreateReader();
        var sequence = 0;
        SmallLaps(writer, reader, 2 * Capacity, ref sequence);
        Assert.Equal(0, writer.EndsZeroed);
        Assert.Equal(0, reader.InteriorsLeft);
        reader.PublishHead();
        for (var offset = 0L; offset < Capacity; offset += Line)
        {
            Assert.Equal(0, LineStart(window, ring, offset));
        }
    }

    [Fact]
    public void A_reader_whose_writer_did_not_promise_clears_a_large_records_interior()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var reader = ring.CreateReader();
        // An older writer never sets the word: the reader must clear as before.
        window.Memory.WriteReleaseInt32(ring.Offset + DescriptorRing.WriterCleansOffset, 0);
        var start = WriteLarge(writer, reader);
        reader.PublishHead();
        Assert.Equal(0, reader.InteriorsLeft);
        for (var offset = start; offset < start + RecordHeader.Size + LargePayload; offset += Line)
        {
            Assert.True(LineStart(window, ring, offset) == 0, $"line {(offset - start) / Line} of the large record was not cleared");
        }
    }

    [Fact]
    public void A_writer_that_resumes_a_ring_zeroes_the_end_of_every_record_of_its_first_lap_and_then_only_where_needed()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var first = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var reader = ring.CreateReader();
        var sequence = 0;
        Exchange(first, reader, 3, ref sequence);
        WriteLarge(first, reader);
        Assert.Equal(1, reader.InteriorsLeft);

        // A new writer on the same ring (its words say where to go on) does not know which lines its predecessor's
        // reader left: it treats the whole lap behind its tail as left.
        var resumed = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var lapEnd = resumed.Position + Capacity;
        var records = 0L;
        while (resumed.Position < lapEnd - (3 * Line))
        {
            Exchange(resumed, reader, 1, ref sequence);
            records++;
        }
        Assert.Equal(records, resumed.EndsZeroed);
        var afterFirstLap = resumed.EndsZeroed;
        SmallLaps(resumed, reader, Capacity, ref sequence);
        Assert.True(resumed.EndsZeroed - afterFirstLap <= 3, $"{resumed.EndsZeroed - afterFirstLap} ends zeroed after the first lap, where no interior was left");
    }

    [Fact]
    public void A_full_ring_keeps_its_oldest_record_when_the_last_record_ends_on_it_between_two_large_records()
    {
        // Lap 1: large A (read), ten small records (five read: the sixth, at H, is the oldest unread), large B (unread). The
        // writer's range of ends to zero a lap on runs from A's interior to B's end, over the small records between: it
        // over-approximates. Lap 2: one-line records until the ring is full, so the last one ends at H plus a lap, on H's
        // header: zeroing that end (as the first version of the rule did) lost record H and the reader waited forever.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var reader = ring.CreateReader();
        WriteLarge(writer, reader);
        var stamp = new byte[8];
        var written = 0;
        for (; written < 10; written++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(stamp, written);
            Assert.True(writer.TryWrite(stamp, s_unfragmented));
        }
        var read = 0;
        ReadStamps(reader, ref read, 5);
        var oldest = reader.Position;
        Assert.True(writer.TryClaim(LargePayload, s_unfragmented, out var claimed));
        claimed.Fill(0x7f);
        writer.Commit(s_unfragmented);
        for (; ; written++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(stamp, written);
            if (!writer.TryWrite(stamp, s_unfragmented))
            {
                break;
            }
        }
        Assert.Equal(oldest + Capacity, writer.Position); // full to the oldest unread record's header
        ReadStamps(reader, ref read, 10);
        Assert.True(reader.TryPeek(out _, out var large), "B did not arrive");
        Assert.Equal(LargePayload, large.Length);
        reader.Consume();
        ReadStamps(reader, ref read, written);
        Assert.False(reader.TryPeek(out _, out _));
    }

    [Fact]
    public void A_large_paddings_interior_is_left_too_and_the_records_that_land_in_it_a_lap_later_arrive_exactly()
    {
        // Lap 1: large A ends 10 KiB before the area's end. Lap 2: at 120 KiB before the end, a record of 125 KB does not
        // fit: 120 KiB of padding covers A's old lines, and the record goes to lap 3's start. The reader leaves the
        // padding's interior (A's 0x7f7f7f7f line starts stay), so lap 3's small records that end there need the writer to
        // have counted the padding in its range.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        var reader = ring.CreateReader();
        var sequence = 0;
        OneLineRecordsTo(writer, reader, Capacity - (110 << 10), ref sequence);
        var a = WriteLarge(writer, reader);
        OneLineRecordsTo(writer, reader, (2 * Capacity) - (120 << 10), ref sequence);
        Assert.True(writer.TryClaim(125_000, s_unfragmented, out var claimed));
        Assert.Equal(2 * Capacity, writer.Position - (125_056));
        claimed.Fill(0x11);
        writer.Commit(s_unfragmented);
        Assert.True(reader.TryPeek(out _, out var payload)); // past the padding
        Assert.Equal(125_000, payload.Length);
        reader.Consume();
        Assert.Equal(3, reader.InteriorsLeft); // A, the padding and the record after it
        Assert.True(LineStart(window, ring, a + (100 * Line)) == 0x7f7f7f7f7f7f7f7f, "the reader cleared the padding's interior");

        SmallLaps(writer, reader, Capacity, ref sequence);
        Assert.True(writer.EndsZeroed > 0);
    }

    /// <summary>One-line records, read back in batches, until the writer's position is exactly <paramref name="position"/>.</summary>
    private static void OneLineRecordsTo(RingWriter writer, RingReader reader, long position, ref int sequence)
    {
        var stamp = new byte[8];
        while (writer.Position < position)
        {
            var batch = (int)Math.Min(64, (position - writer.Position) / Line);
            var first = sequence;
            for (var i = 0; i < batch; i++, sequence++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(stamp, sequence);
                Assert.True(writer.TryWrite(stamp, s_unfragmented));
            }
            ReadStamps(reader, ref first, sequence);
        }
        Assert.Equal(position, writer.Position);
    }

    private static void ReadStamps(RingReader reader, ref int read, int until)
    {
        for (; read < until; read++)
        {
            Assert.True(reader.TryPeek(out _, out var payload), $"record {read} did not arrive");
            Assert.Equal(read, BinaryPrimitives.ReadInt32LittleEndian(payload));
            reader.Consume();
        }
    }

    private static long LineStart(SharedWindow window, DescriptorRing ring, long position)
        => window.Memory.ReadAcquireInt64(ring.Offset + DescriptorRing.DataOffset + (position & (Capacity - 1)));

    /// <summary>Writes one large record whose payload is 0x7f throughout, reads it back whole, and returns its position.</summary>
    private static long WriteLarge(RingWriter writer, RingReader reader)
    {
        var start = writer.Position;
        Assert.True(writer.TryClaim(LargePayload, s_unfragmented, out var claimed));
        claimed.Fill(0x7f);
        writer.Commit(s_unfragmented);
        Assert.True(reader.TryPeek(out _, out var payload));
        Assert.Equal(LargePayload, payload.Length);
        Assert.True(payload.IndexOfAnyExcept((byte)0x7f) < 0);
        reader.Consume();
        Assert.False(reader.TryPeek(out _, out _));
        return start;
    }

    /// <summary>Small records (1 to 150 bytes: one to three lines) in batches of 1 to 29 until <paramref name="bytes"/> more were written.</summary>
    private static void SmallLaps(RingWriter writer, RingReader reader, long bytes, ref int sequence)
    {
        var until = writer.Position + bytes;
        for (var batch = 1; writer.Position < until; batch++)
        {
            Exchange(writer, reader, 1 + (batch * 7 % 29), ref sequence);
        }
    }

    /// <summary>Writes <paramref name="count"/> stamped records, reads them back exactly, in order, and then finds nothing.</summary>
    private static void Exchange(RingWriter writer, RingReader reader, int count, ref int sequence)
    {
        var first = sequence;
        var message = new byte[150];
        for (var i = 0; i < count; i++)
        {
            var length = LengthOf(sequence);
            BinaryPrimitives.WriteInt32LittleEndian(message, sequence);
            message.AsSpan(4, length - 4).Fill((byte)sequence);
            Assert.True(writer.TryWrite(message.AsSpan(0, length), s_unfragmented), $"record {sequence} found no room");
            sequence++;
        }
        for (var i = first; i < sequence; i++)
        {
            Assert.True(reader.TryPeek(out _, out var payload), $"record {i} did not arrive");
            Assert.Equal(LengthOf(i), payload.Length);
            Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(payload));
            Assert.True(payload[4..].IndexOfAnyExcept((byte)i) < 0, $"record {i} arrived with other bytes");
            reader.ConsumeLazily();
        }
        Assert.False(reader.TryPeek(out _, out _), $"the reader found a record after {sequence - 1}, where nothing was written");
        reader.PublishHeadIfStale();
    }

    private static int LengthOf(int sequence) => 4 + (sequence * 37 % 147);
}
