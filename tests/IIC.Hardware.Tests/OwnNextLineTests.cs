namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 11): the writer's pre-own store (<see cref="DescriptorRing.OwnNextLineEnabled"/>, docs/window-layout.md
/// 2.2 step 8). After each publish the writer stores 0 into the last word of the free line at its new tail, so that
/// line is its own before the next record. What must hold: the store happens after a write and after a claim's commit
/// (the old writer made none: the first two tests fail on it), it goes only into a line the reader has returned (never
/// into an unconsumed record, even when the ring is full), and never into a line start, so the reader finds exactly the
/// records written.
/// </summary>
public sealed class OwnNextLineTests
{
    private const int Marker = 0x5A5A5A5A;
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    private static long DataStart(DescriptorRing ring) => ring.Offset + DescriptorRing.DataOffset;

    private static long OwnWord(DescriptorRing ring, int lineOffset) => DataStart(ring) + lineOffset + RingWriter.OwnWordOffset;

    private static T WithSwitch<T>(bool on, Func<T> body)
    {
        var old = DescriptorRing.OwnNextLineEnabled;
        DescriptorRing.OwnNextLineEnabled = on;
        try
        {
            return body();
        }
        finally
        {
            DescriptorRing.OwnNextLineEnabled = old;
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_write_stores_into_the_last_word_of_the_line_at_the_new_tail_and_nowhere_else(bool on)
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        // Free space holds anything but its line starts (those read 0): mark the next line's last word and start.
        window.Memory.WriteReleaseInt32(OwnWord(ring, 64), Marker);
        window.Memory.WriteReleaseInt32(DataStart(ring) + 128 + RingWriter.OwnWordOffset, Marker);
        var writer = WithSwitch(on, ring.CreateWriter);
        var reader = ring.CreateReader();

        Assert.True(writer.TryWrite(new byte[32], s_unfragmented));

        Assert.Equal(on ? 0 : Marker, window.Memory.ReadAcquireInt32(OwnWord(ring, 64)));
        Assert.Equal(Marker, window.Memory.ReadAcquireInt32(DataStart(ring) + 128 + RingWriter.OwnWordOffset)); // one line only
        Assert.Equal(0, window.Memory.ReadAcquireInt32(DataStart(ring) + 64)); // the line start a caught-up reader polls
        Assert.True(reader.TryPeek(out _, out var payload));
        Assert.Equal(32, payload.Length);
        reader.ConsumeLazily();
        Assert.False(reader.TryPeek(out _, out _));
    }

    [Fact]
    public void A_committed_claim_takes_the_next_line_too()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        window.Memory.WriteReleaseInt32(OwnWord(ring, 128), Marker);
        var writer = WithSwitch(true, ring.CreateWriter);
        var reader = ring.CreateReader();

        Assert.True(writer.TryClaim(100, s_unfragmented, out var claim)); // two lines: 8 + 100 bytes
        claim.Fill(7);
        Assert.Equal(Marker, window.Memory.ReadAcquireInt32(OwnWord(ring, 128))); // nothing before the commit
        writer.Commit(s_unfragmented);

        Assert.Equal(0, window.Memory.ReadAcquireInt32(OwnWord(ring, 128)));
        Assert.True(reader.TryPeek(out _, out var payload));
        Assert.Equal(100, payload.Length);
        Assert.All(payload.ToArray(), b => Assert.Equal(7, b));
    }

    [Fact]
    public void A_full_ring_leaves_the_readers_unconsumed_record_whole()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.MinCapacity));
        var ring = window.GetRing(0);
        var writer = WithSwitch(true, ring.CreateWriter);
        var reader = ring.CreateReader();
        var full = new byte[64 - 8]; // header and payload fill a line: the pre-own word is payload
        full.AsSpan().Fill(0xAB);
        var written = 0;
        while (writer.TryWrite(full, s_unfragmented))
        {
            written++;
        }
        Assert.Equal(DescriptorRing.MinCapacity / 64, written); // the ring filled to its last byte; its tail is the head's line

        for (var i = 0; i < written; i++)
        {
            Assert.True(reader.TryPeek(out _, out var payload));
            Assert.Equal(full.Length, payload.Length);
            Assert.All(payload.ToArray(), b => Assert.Equal(0xAB, b)); // the first record too: its last word is the tail's line
            reader.ConsumeLazily();
        }
        Assert.False(reader.TryPeek(out _, out _));
    }

    [Fact]
    public void Records_arrive_whole_and_in_order_through_many_laps_with_wraps()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.MinCapacity));
        var ring = window.GetRing(0);
        var writer = WithSwitch(true, ring.CreateWriter);
        var reader = ring.CreateReader();
        var message = new byte[200];
        var next = 0;
        var expected = 0;
        for (var step = 0; step < 2000; step++)
        {
            // Lengths 1 to 200 bytes (one to four lines), so records wrap at every offset; the reader keeps a few behind.
            var length = 1 + ((step * 37) % 200);
            message.AsSpan(0, length).Fill((byte)next);
            if (writer.TryWrite(message.AsSpan(0, length), s_unfragmented))
            {
                next++;
            }
            while ((step % 3 == 0 || next - expected > 3) && reader.TryPeek(out _, out var payload))
            {
                Assert.All(payload.ToArray(), b => Assert.Equal((byte)expected, b));
                expected++;
                reader.ConsumeLazily();
            }
            reader.PublishHeadIfStale();
        }
        Assert.True(expected > 1000, $"only {expected} records went round");
    }
}
