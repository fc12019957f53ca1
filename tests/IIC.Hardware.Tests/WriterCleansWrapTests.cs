using System.Buffers.Binary;

namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 11): a cleaning writer zeroes only the line starts a reader can poll (RingWriter.CleanAhead skips the
/// interior lines of the record it just reserved). At a wrap the record starts at the new lap's offset 0, behind a
/// padding record a claim publishes at once; that first line must read 0 although it lies below the new tail and was
/// last written a lap ago, or the reader following the padding takes the old record there for a new one.
/// </summary>
public sealed class WriterCleansWrapTests
{
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Fact]
    public void A_claim_that_wraps_leaves_the_new_laps_first_line_empty_until_it_is_committed()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: true, writerCleans: true);
        var reader = ring.CreateReader();

        // Lap 1: one-line records until the ring is full (63: a cleaning writer keeps a line free), all read and returned.
        // Every line start of the lap now holds an old record's header; offset 0 holds sequence 0's.
        var sent = 0;
        while (writer.TryWrite(Stamp(sent), s_unfragmented))
        {
            sent++;
        }
        for (var i = 0; i < sent; i++)
        {
            Assert.True(reader.TryPeek(out _, out _));
            reader.ConsumeLazily();
        }
        reader.PublishHeadIfStale();

        // A 10-line claim does not fit in the lap's last line: padding there (published at once), the record at offset 0.
        Assert.True(writer.TryClaim(10 * 64 - RecordHeader.Size, s_unfragmented, out var claimed));
        var found = reader.TryPeek(out _, out var ghost);
        Assert.False(found, found
            ? $"after the padding the reader took lap 1's record ({BinaryPrimitives.ReadInt32LittleEndian(ghost)}) at offset 0 for a new one"
            : "");

        BinaryPrimitives.WriteInt32LittleEndian(claimed, 4242);
        writer.Commit(s_unfragmented);
        Assert.True(reader.TryPeek(out _, out var payload));
        Assert.Equal(4242, BinaryPrimitives.ReadInt32LittleEndian(payload));
    }

    private static byte[] Stamp(int sequence)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, sequence);
        return bytes;
    }
}
