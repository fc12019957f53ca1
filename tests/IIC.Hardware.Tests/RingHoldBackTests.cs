namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 6): a caught-up reader holds back the space of its last records (<see cref="RingReader.ConsumeLazily"/>)
/// until it next finds the ring empty (<see cref="RingReader.PublishHeadIfStale"/>), so the clears of the lines it just
/// read are not stored ahead of the caller's reply. What must hold: nothing is returned before its lines are cleared,
/// a burst returns space at least every <see cref="RingReader.HoldBackLimit"/> bytes, and what is held back never
/// keeps the writer's largest reservation out while the reader is caught up.
/// </summary>
public sealed class RingHoldBackTests
{
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Fact]
    public void A_caught_up_reader_returns_its_last_record_only_when_it_finds_the_ring_empty()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var head = ring.Offset + DescriptorRing.HeadOffset;
        var data = ring.Offset + DescriptorRing.DataOffset;

        Assert.True(writer.TryWrite(new byte[32], s_unfragmented));
        Assert.True(reader.TryPeek(out _, out _));
        reader.ConsumeLazily();
        Assert.Equal(64, reader.Position);
        Assert.Equal(0, window.Memory.ReadAcquireInt64(head)); // held back: no head store right after the read
        Assert.Equal(40, window.Memory.ReadAcquireInt32(data)); // and no clear of the line just read
        Assert.Equal(64, ring.Occupancy);

        Assert.False(reader.TryPeek(out _, out _)); // found empty: the caller returns what it holds, then waits
        reader.PublishHeadIfStale();
        Assert.Equal(0, window.Memory.ReadAcquireInt32(data)); // cleared before ...
        Assert.Equal(64, window.Memory.ReadAcquireInt64(head)); // ... the head that returns it
        Assert.Equal(0, ring.Occupancy);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(65536)]
    public void A_burst_returns_space_at_least_every_hold_back_limit(int capacity)
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var ring = window.GetRing(1);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        Assert.Equal(Math.Min(4096, capacity / 8), reader.HoldBackLimit);
        var head = ring.Offset + DescriptorRing.HeadOffset;
        for (var i = 0; i < 4 * capacity / 64; i++)
        {
            while (writer.TryWrite(new byte[24], s_unfragmented))
            {
            }
            while (reader.TryPeek(out _, out _))
            {
                reader.ConsumeLazily();
                var held = reader.Position - window.Memory.ReadAcquireInt64(head);
                Assert.InRange(held, 0, reader.HoldBackLimit - 1);
            }
        }
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(4096)]
    [InlineData(65536)]
    public void The_largest_reservation_always_fits_behind_a_caught_up_reader_that_holds_space_back(int capacity)
    {
        // Every tail offset, two laps: records of one line are written and consumed lazily (the reader caught up,
        // holding back up to its limit); at each step the writer must have room for the largest record plus an Abandon
        // line (what a fragmented send reserves), which needs a wrap's padding at most offsets near the end.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var largest = writer.MaxPayloadLength + DescriptorRing.RecordAlignment;
        for (var step = 0; step < 2 * capacity / 64; step++)
        {
            Assert.True(writer.TryWrite(new byte[40], s_unfragmented), $"step {step}: a one-line record must fit");
            Assert.True(reader.TryPeek(out _, out _));
            reader.ConsumeLazily();
            Assert.False(reader.HasData);
            Assert.True(writer.HasRoomFor(largest), $"step {step}: tail offset {writer.Position % capacity}, {reader.Position - reader.HoldBackLimit} or more returned");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_lazy_consume_looks_at_the_next_header_only_when_switched_on_and_holds_back_the_same_either_way(bool lookAhead)
    {
        // Round 7: the look after a consume (a load that usually misses ahead of the caller's reply) is gone by default;
        // IIC_LOOK_AHEAD=1 brings it back for A/B runs. Only its by-product count may differ.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        RingReader reader;
        DescriptorRing.LookAheadEnabled = lookAhead; // read when a reader is made; readers other tests make meanwhile work either way
        try
        {
            reader = ring.CreateReader();
        }
        finally
        {
            DescriptorRing.LookAheadEnabled = Environment.GetEnvironmentVariable("IIC_LOOK_AHEAD") == "1";
        }
        var head = ring.Offset + DescriptorRing.HeadOffset;
        var data = ring.Offset + DescriptorRing.DataOffset;
        Assert.True(writer.TryWrite(new byte[32], s_unfragmented));
        Assert.True(writer.TryWrite(new byte[33], s_unfragmented));

        Assert.True(reader.TryPeek(out _, out var first));
        Assert.Equal(32, first.Length);
        reader.ConsumeLazily();
        Assert.True(reader.TryPeek(out _, out var second));
        Assert.Equal(33, second.Length);
        reader.ConsumeLazily();
        Assert.Equal(lookAhead ? 1 : 0, reader.CaughtUpConsumes); // with the look: the second consume saw the ring empty
        Assert.Equal(0, window.Memory.ReadAcquireInt64(head)); // both held back, either way
        Assert.Equal(40, window.Memory.ReadAcquireInt32(data));
        Assert.Equal(41, window.Memory.ReadAcquireInt32(data + 64));

        Assert.False(reader.TryPeek(out _, out _));
        reader.PublishHeadIfStale();
        Assert.Equal(0, window.Memory.ReadAcquireInt32(data));
        Assert.Equal(0, window.Memory.ReadAcquireInt32(data + 64));
        Assert.Equal(128, window.Memory.ReadAcquireInt64(head));
        Assert.Equal(0, ring.Occupancy);
    }
}
