using System.Buffers.Binary;

namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 11b, branch large): a cleaning writer never zeroes the interior line starts of the record it just
/// reserved (its payload overwrites them). Round 11's CleanAhead started its loop at the record's first line and ran to
/// the tail plus the cleaning distance, so a 64 MiB record had its million line starts zeroed just before the copy
/// (a second pass over memory out of the cache). The lines a reader can poll must still read 0: the next lap's records
/// land on the old record's interior, whose line starts then hold payload bytes that look like a published length.
/// </summary>
public sealed class WriterCleansInteriorTests
{
    private const int Line = 64;
    private const int Capacity = 64 << 10; // 1024 lines: the largest record is 256, the cleaning distance 32 (2 KiB)
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Fact]
    public void A_large_claim_keeps_its_interior_untouched_and_the_next_laps_find_no_ghosts()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: true);
        var reader = ring.CreateReader();
        var sequence = 0;

        // Lap 1: 1024 one-line records in two halves, all read: every line start holds an old header (a positive length).
        Exchange(writer, reader, 512, ref sequence);
        Exchange(writer, reader, 512, ref sequence);
        Assert.Equal(Capacity, writer.Position);

        // Lap 2 starts with a 200-line claim at offset 0; 80 rounds of 15 then cover its lines again in lap 3.
        const int lines = 200;
        Assert.True(writer.TryClaim((lines * Line) - RecordHeader.Size, s_unfragmented, out var claimed));
        var cleanedAfterClaim = writer.LinesCleaned;
        // The lines the earlier records cleaned ahead (up to 32 past their tail) may read 0; from line 40 on none may.
        for (var line = 40; line < lines; line++)
        {
            var word = BinaryPrimitives.ReadInt64LittleEndian(claimed[((line * Line) - RecordHeader.Size)..]);
            Assert.True(word != 0, $"the claim's interior line {line} was zeroed before its payload was written");
        }
        // Its payload makes every interior line start look like a published record (0x7f7f7f7f is a positive length).
        claimed.Fill(0x7f);
        writer.Commit(s_unfragmented);
        Assert.True(reader.TryPeek(out _, out var payload));
        Assert.Equal((lines * Line) - RecordHeader.Size, payload.Length);
        Assert.True(payload.IndexOfAnyExcept((byte)0x7f) < 0);
        reader.Consume();
        Assert.False(reader.TryPeek(out _, out _));

        // Two more laps of one-line records: each lands on line starts the big record's payload left at 0x7f7f7f7f, and the
        // reader must find exactly the records written, in order, and then nothing (a cleaned line start after the tail).
        for (var round = 0; round < 80; round++)
        {
            Exchange(writer, reader, 15, ref sequence);
        }
        Assert.True(writer.LinesCleaned > cleanedAfterClaim);
    }

    [Fact]
    public void A_writer_made_for_a_ring_sized_for_large_records_cleans_by_default_and_a_small_rings_does_not()
    {
        Assert.True(DescriptorRing.WriterCleansLargeRings, "run without IIC_WRITER_CLEANS=0");
        Assert.False(DescriptorRing.WriterCleansEnabled, "run without IIC_WRITER_CLEANS=1");
        using var large = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.WriterCleansFromCapacity));
        Assert.True(large.GetRing(0).CreateWriter().Cleans);
        using var small = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.WriterCleansFromCapacity / 2));
        Assert.False(small.GetRing(0).CreateWriter().Cleans);
    }

    private static void Exchange(RingWriter writer, RingReader reader, int count, ref int sequence)
    {
        var first = sequence;
        var stamp = new byte[8];
        for (var i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(stamp, sequence++);
            Assert.True(writer.TryWrite(stamp, s_unfragmented));
        }
        for (var i = 0; i < count; i++)
        {
            Assert.True(reader.TryPeek(out _, out var payload), $"record {first + i} is missing");
            Assert.Equal(8, payload.Length);
            Assert.Equal(first + i, BinaryPrimitives.ReadInt32LittleEndian(payload));
            reader.ConsumeLazily();
        }
        var ghost = reader.TryPeek(out _, out var extra);
        Assert.False(ghost, ghost ? $"after record {sequence - 1} the reader found a record of {extra.Length} bytes nobody wrote" : "");
        reader.PublishHeadIfStale();
    }
}
