using System.Buffers.Binary;

namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 9): the writer-cleans switch (<see cref="DescriptorRing.WriterCleansEnabled"/>). A writer made with
/// it zeroes the line starts ahead of its tail and sets the ring's writer-cleans word; its reader then makes no clears.
/// What must hold: the reader never mistakes what an older record left in a line for a new record (the check that the
/// negative control shows failing when nobody cleans), every record arrives once, whole and in order through wraps,
/// claims, aborts and a lazily publishing reader, the writer keeps one line free, and the flag is sticky.
/// </summary>
public sealed class WriterCleansTests
{
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    public enum Cleaning
    {
        ReaderClears, // the default: the writer does not clean, the reader clears what it consumed
        WriterCleans, // the switch: the writer cleans, the reader skips its clears
        Nobody,       // negative control: the word says the writer cleans, but this writer does not
    }

    private static (RingWriter Writer, RingReader Reader) Ends(SharedWindow window, DescriptorRing ring, Cleaning cleaning)
    {
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: cleaning == Cleaning.WriterCleans);
        var reader = ring.CreateReader();
        if (cleaning == Cleaning.Nobody)
        {
            // After the writer was made (it adopts a flag it finds set): the reader skips its clears, nobody cleans.
            window.Memory.WriteReleaseInt32(ring.Offset + DescriptorRing.WriterCleansOffset, DescriptorRing.WriterCleansFlag);
        }
        return (writer, reader);
    }

    [Theory]
    [InlineData(Cleaning.ReaderClears, false)]
    [InlineData(Cleaning.WriterCleans, false)]
    [InlineData(Cleaning.Nobody, true)]
    public void After_a_lap_the_reader_finds_nothing_where_nothing_was_written_unless_nobody_cleans(Cleaning cleaning, bool staleExpected)
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var (writer, reader) = Ends(window, ring, cleaning);
        // Lap 1: one-line records until the ring is full, all read and returned.
        var sent = 0;
        while (writer.TryWrite(Stamp(sent), s_unfragmented))
        {
            sent++;
        }
        Assert.Equal(cleaning == Cleaning.WriterCleans ? 63 : 64, sent); // a cleaning writer keeps one line free
        for (var i = 0; i < sent; i++)
        {
            Assert.True(reader.TryPeek(out _, out var payload));
            Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(payload));
            reader.ConsumeLazily();
        }
        if (reader.TryPeek(out _, out var early))
        {
            // A full lap: the reader stands on the first lap's first line (only a ring nobody cleans shows it again).
            Assert.True(staleExpected, $"the reader took a record of the first lap ({BinaryPrimitives.ReadInt32LittleEndian(early)}) for a new one");
            return;
        }
        reader.PublishHeadIfStale();
        // Lap 2: two more records; then the reader stands on a line the first lap wrote and this one did not.
        Assert.True(writer.TryWrite(Stamp(sent), s_unfragmented));
        Assert.True(writer.TryWrite(Stamp(sent + 1), s_unfragmented));
        for (var i = sent; i < sent + 2; i++)
        {
            Assert.True(reader.TryPeek(out _, out var payload));
            Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(payload));
            reader.ConsumeLazily();
        }
        var stale = reader.TryPeek(out _, out var ghost);
        Assert.True(stale == staleExpected, stale
            ? $"the reader took a record of the first lap ({BinaryPrimitives.ReadInt32LittleEndian(ghost)}) for a new one"
            : "nobody cleaned, yet the reader found the line empty: this negative control no longer shows the check can fail");
    }

    [Fact]
    public void A_cleaning_writer_sets_the_word_and_its_reader_stores_no_clears()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var flag = ring.Offset + DescriptorRing.WriterCleansOffset;
        var data = ring.Offset + DescriptorRing.DataOffset;
        Assert.Equal(0, window.Memory.ReadAcquireInt32(flag));
        var (writer, reader) = Ends(window, ring, Cleaning.WriterCleans);
        Assert.True(writer.Cleans);
        Assert.Equal(DescriptorRing.WriterCleansFlag, window.Memory.ReadAcquireInt32(flag));

        Assert.True(writer.TryWrite(new byte[32], s_unfragmented));
        Assert.True(reader.TryPeek(out _, out _));
        reader.Consume(); // publishes the head at once
        Assert.Equal(64, window.Memory.ReadAcquireInt64(ring.Offset + DescriptorRing.HeadOffset));
        Assert.Equal(40, window.Memory.ReadAcquireInt32(data)); // returned without a clear: the writer zeroes it before reuse
    }

    [Fact]
    public void The_flag_is_sticky_a_writer_that_resumes_a_cleaned_ring_cleans()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var first = ring.CreateWriter(asymmetricFence: true, writerCleans: true);
        Assert.True(first.Cleans);
        var second = ring.CreateWriter(asymmetricFence: true, writerCleans: false);
        Assert.True(second.Cleans);
        Assert.False(window.GetRing(1).CreateWriter(asymmetricFence: true, writerCleans: false).Cleans);
    }

    [Theory]
    [InlineData(1024, 3)]
    [InlineData(4096, 5)]
    [InlineData(65536, 7)]
    public void Random_records_claims_and_aborts_arrive_whole_and_in_order_over_many_laps(int capacity, int seed)
    {
        // One thread plays both ends, the reader a random number of records behind (full rings, wraps with padding, a lazy
        // reader that holds space back, claims committed or aborted): every record must arrive once, whole, in order, and
        // the reader must never see a record that was not written (a line nobody cleaned).
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var ring = window.GetRing(0);
        var (writer, reader) = Ends(window, ring, Cleaning.WriterCleans);
        var random = new Random(seed);
        var expected = new Queue<(int Sequence, int Length)>();
        var buffer = new byte[writer.MaxPayloadLength];
        var sequence = 0;
        var laps = 0L;
        for (var step = 0; laps < 40 * (long)capacity; step++)
        {
            // Write a burst.
            for (var burst = random.Next(1, 40); burst > 0; burst--)
            {
                var length = random.Next(4, random.Next(6) == 0 ? buffer.Length + 1 : 57);
                var payload = buffer.AsSpan(0, length);
                BinaryPrimitives.WriteInt32LittleEndian(payload, sequence);
                Fill(payload[4..], sequence);
                if (random.Next(4) == 0)
                {
                    if (!writer.TryClaim(length, s_unfragmented, out var claimed))
                    {
                        break;
                    }
                    payload.CopyTo(claimed);
                    if (random.Next(3) == 0)
                    {
                        writer.Abort(); // nothing delivered; its lines are zeroed again
                        continue;
                    }
                    writer.Commit(s_unfragmented);
                }
                else if (!writer.TryWrite(payload, s_unfragmented))
                {
                    break;
                }
                expected.Enqueue((sequence, length));
                laps += (8 + length + 63) & ~63;
                sequence++;
            }
            // Read some of it (sometimes all, then the reader finds the ring empty and returns what it held back).
            var take = random.Next(3) == 0 ? int.MaxValue : random.Next(0, 30);
            while (take-- > 0)
            {
                if (!reader.TryPeek(out _, out var got))
                {
                    Assert.True(expected.Count == 0, $"seed {seed} step {step}: {expected.Count} records written but not readable");
                    reader.PublishHeadIfStale();
                    break;
                }
                Assert.True(expected.Count > 0, $"seed {seed} step {step}: the reader found a record nobody wrote (a stale line)");
                var (s, l) = expected.Dequeue();
                Assert.True(got.Length == l && BinaryPrimitives.ReadInt32LittleEndian(got) == s && Matches(got[4..], s),
                    $"seed {seed} step {step}: record {s} lost, reordered or corrupt (length {got.Length} vs {l}, seq {BinaryPrimitives.ReadInt32LittleEndian(got)})");
                reader.ConsumeLazily();
            }
        }
        while (expected.Count > 0)
        {
            Assert.True(reader.TryPeek(out _, out var got), $"seed {seed}: record lost at the end");
            var (s, l) = expected.Dequeue();
            Assert.True(got.Length == l && BinaryPrimitives.ReadInt32LittleEndian(got) == s, $"seed {seed}: record {s} differs at the end");
            reader.ConsumeLazily();
        }
        Assert.False(reader.TryPeek(out _, out _), $"seed {seed}: a record nobody wrote at the end");
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(4096)]
    [InlineData(65536)]
    public void The_largest_reservation_still_fits_behind_a_caught_up_reader(int capacity)
    {
        // As RingHoldBackTests' check, with the line a cleaning writer keeps free: at every tail offset, with the reader
        // caught up and holding back what it may, the largest record plus an Abandon line fits.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var ring = window.GetRing(0);
        var (writer, reader) = Ends(window, ring, Cleaning.WriterCleans);
        var largest = writer.MaxPayloadLength + DescriptorRing.RecordAlignment;
        for (var step = 0; step < 2 * capacity / 64; step++)
        {
            Assert.True(writer.TryWrite(new byte[40], s_unfragmented), $"step {step}: a one-line record must fit");
            Assert.True(reader.TryPeek(out _, out _));
            reader.ConsumeLazily();
            Assert.True(writer.HasRoomFor(largest), $"step {step}: the largest reservation does not fit behind a caught-up reader");
        }
    }

    private static byte[] Stamp(int sequence)
    {
        var payload = new byte[32];
        BinaryPrimitives.WriteInt32LittleEndian(payload, sequence);
        return payload;
    }

    private static void Fill(Span<byte> span, int seed)
    {
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = (byte)((seed * 31) + i);
        }
    }

    private static bool Matches(ReadOnlySpan<byte> span, int seed)
    {
        for (var i = 0; i < span.Length; i++)
        {
            if (span[i] != (byte)((seed * 31) + i))
            {
                return false;
            }
        }
        return true;
    }
}
