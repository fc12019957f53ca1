namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 13, branch oneway): the A/B switch <c>IIC_OWN_AHEAD_LINES</c> moves the writer's pre-own store from the
/// line at its tail to the line k - 1 lines past it. The store must stay a hint that no reader can see: the last word of a
/// line that is free space by the cached head, never a line start, never a line holding a record not yet consumed, and
/// records must arrive whole through wraps and a full ring. (Other tests that make writers while the switch is set get
/// the same safe store; the switch is read when a writer is made.)
/// </summary>
public sealed class OwnAheadTests
{
    private const int Marker = 0x5A5A5A5A;
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    private static long DataStart(DescriptorRing ring) => ring.Offset + DescriptorRing.DataOffset;

    private static T WithAhead<T>(int lines, Func<T> body)
    {
        var old = (DescriptorRing.OwnNextLineEnabled, DescriptorRing.OwnAheadLines);
        DescriptorRing.OwnNextLineEnabled = true;
        DescriptorRing.OwnAheadLines = lines;
        try
        {
            return body();
        }
        finally
        {
            (DescriptorRing.OwnNextLineEnabled, DescriptorRing.OwnAheadLines) = old;
        }
    }

    [Fact]
    public void A_write_stores_into_the_last_word_of_the_line_three_past_the_tail_and_nowhere_else()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        // Mark the last word of lines 1 to 5: only line 1 + 3 = 4 may change after the first record (which fills line 0).
        for (var line = 1; line <= 5; line++)
        {
            window.Memory.WriteReleaseInt32(DataStart(ring) + (line * 64) + RingWriter.OwnWordOffset, Marker);
        }
        var writer = WithAhead(4, ring.CreateWriter);
        var reader = ring.CreateReader();

        Assert.True(writer.TryWrite(new byte[32], s_unfragmented));

        for (var line = 1; line <= 5; line++)
        {
            Assert.Equal(line == 4 ? 0 : Marker, window.Memory.ReadAcquireInt32(DataStart(ring) + (line * 64) + RingWriter.OwnWordOffset));
            Assert.Equal(0, window.Memory.ReadAcquireInt32(DataStart(ring) + (line * 64))); // no line start is ever written
        }
        Assert.True(reader.TryPeek(out _, out var payload));
        Assert.Equal(32, payload.Length);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(16)]
    public void A_full_ring_leaves_every_unconsumed_record_whole(int lines)
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.MinCapacity));
        var ring = window.GetRing(0);
        var writer = WithAhead(lines, ring.CreateWriter);
        var reader = ring.CreateReader();
        var full = new byte[64 - 8]; // header and payload fill a line: each line's pre-own word is payload
        for (var lap = 0; lap < 3; lap++)
        {
            full.AsSpan().Fill((byte)(0xA0 + lap));
            var written = 0;
            while (writer.TryWrite(full, s_unfragmented))
            {
                written++;
            }
            Assert.Equal(DescriptorRing.MinCapacity / 64, written); // the ring filled to its last byte
            for (var i = 0; i < written; i++)
            {
                Assert.True(reader.TryPeek(out _, out var payload));
                Assert.Equal(full.Length, payload.Length);
                Assert.All(payload.ToArray(), b => Assert.Equal(0xA0 + lap, b)); // no pre-own store landed in a record not yet read
                reader.ConsumeLazily();
            }
            Assert.False(reader.TryPeek(out _, out _));
            reader.PublishHeadIfStale();
        }
    }

    [Theory]
    [InlineData(4)]
    [InlineData(16)]
    public void Records_arrive_whole_and_in_order_through_many_laps_with_wraps(int lines)
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(DescriptorRing.MinCapacity));
        var ring = window.GetRing(0);
        var writer = WithAhead(lines, ring.CreateWriter);
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
