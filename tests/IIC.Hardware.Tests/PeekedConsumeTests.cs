namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 13): the receive fast path's loop consumes the record <see cref="RingReader.TryPeekFast"/> just peeked
/// with <see cref="RingReader.ConsumePeekedLazily"/>, which drops Consume's "was anything peeked" check and its clear-batch
/// check (the hold-back publish, which clears, always comes first), and <see cref="RingReader.HeadWord"/> is what the
/// clock-free spin loads. What must hold: the same head, the same held-back space and the same clears as
/// <see cref="RingReader.ConsumeLazily"/> after every record, over several laps with records of different lengths, and
/// the head word is the length word TryPeekFast reads.
/// </summary>
public sealed class PeekedConsumeTests
{
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Theory]
    [InlineData(1024)]
    [InlineData(65536)]
    public void The_peeked_consume_leaves_the_ring_as_the_lazy_consume_does_after_every_record(int capacity)
    {
        // Two identical rings, one read with each consume: after every record their heads, held-back space and data
        // areas (line starts cleared or not) must agree.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var lazy = window.GetRing(0);
        var peeked = window.GetRing(1);
        var lazyWriter = lazy.CreateWriter();
        var peekedWriter = peeked.CreateWriter();
        var lazyReader = lazy.CreateReader();
        var peekedReader = peeked.CreateReader();
        var lazyHead = lazy.Offset + DescriptorRing.HeadOffset;
        var peekedHead = peeked.Offset + DescriptorRing.HeadOffset;
        var lazyData = lazy.Offset + DescriptorRing.DataOffset;
        var peekedData = peeked.Offset + DescriptorRing.DataOffset;
        var records = 0;
        for (var i = 0; records < 6 * capacity / 64; i++)
        {
            // A burst of records of 1 to 3 lines (lengths that vary, so line starts inside longer records are cleared too).
            var payload = new byte[(i * 37) % 150];
            payload.AsSpan().Fill((byte)i);
            var written = 0;
            while (written < 5 && lazyWriter.TryWrite(payload, s_unfragmented))
            {
                Assert.True(peekedWriter.TryWrite(payload, s_unfragmented), "both rings have the same room");
                written++;
            }
            Assert.False(written == 0 && peekedWriter.TryWrite(payload, s_unfragmented), "both rings are full together");
            for (var k = 0; k < written; k++)
            {
                Assert.True(lazyReader.TryPeek(out _, out var expected));
                if (!peekedReader.TryPeekFast(s_unfragmented, out var actual))
                {
                    // Padding at the wrap: the fast peek declines (as the fast path does) and TryPeek skips it.
                    Assert.True(peekedReader.TryPeek(out _, out _));
                    Assert.True(peekedReader.TryPeekFast(s_unfragmented, out actual));
                }
                Assert.True(expected.SequenceEqual(actual), "the same record");
                lazyReader.ConsumeLazily();
                peekedReader.ConsumePeekedLazily();
                records++;
                Assert.Equal(lazyReader.Position, peekedReader.Position);
                Assert.Equal(window.Memory.ReadAcquireInt64(lazyHead), window.Memory.ReadAcquireInt64(peekedHead));
                var held = peekedReader.Position - window.Memory.ReadAcquireInt64(peekedHead);
                Assert.InRange(held, 0, peekedReader.HoldBackLimit - 1);
            }
            // Found empty: both return what they hold, which clears the lines.
            lazyReader.PublishHeadIfStale();
            peekedReader.PublishHeadIfStale();
            for (var line = 0; line < capacity; line += 64)
            {
                Assert.Equal(window.Memory.ReadAcquireInt32(lazyData + line), window.Memory.ReadAcquireInt32(peekedData + line));
            }
        }
        Assert.Equal(0, peeked.Occupancy);
    }

    [Fact]
    public unsafe void The_head_word_is_the_length_word_at_the_head_and_reads_the_publish()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        for (var i = 0; i < 3 * 4096 / 64; i++)
        {
            var word = reader.HeadWord;
            Assert.Equal(0, Volatile.Read(ref *word)); // nothing published at the head yet
            Assert.True(writer.TryWrite(new byte[i % 40], s_unfragmented));
            Assert.Equal(8 + (i % 40), Volatile.Read(ref *word)); // the publish, seen through the word the spin loads
            Assert.True(reader.TryPeekFast(s_unfragmented, out var payload));
            Assert.Equal(i % 40, payload.Length);
            reader.ConsumePeekedLazily();
            reader.PublishHeadIfStale();
        }
    }
}
