namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 14): <see cref="RingWriter.TryClaimFast"/> (the channel's claim fast path) stores nothing into the
/// record's line: the claim's first store into the line is the caller's payload, and the commit stores the type word and
/// then the length. What must hold: after a fast claim the whole line still reads as the consumer left it (zero; the old
/// claim stored the type word here), the committed record carries the type the commit gave and the payload, an aborted
/// fast claim leaves the line as it was, and records claimed and committed this way read back whole over several laps.
/// </summary>
public sealed class ClaimStoresNothingTests
{
    private const int Line = 64;
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Fact]
    public void A_fast_claim_leaves_its_line_untouched_until_the_commit()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var data = ring.Offset + DescriptorRing.DataOffset;

        Assert.True(writer.TryClaimFast(32, out var payload));
        Assert.Equal(32, payload.Length);
        for (var word = 0; word < Line; word += sizeof(int))
        {
            Assert.Equal(0, window.Memory.ReadAcquireInt32(data + word));
        }
        Assert.False(reader.TryPeek(out _, out _));

        payload.Fill(0x5A);
        writer.Commit(s_unfragmented);
        Assert.Equal(RecordHeader.Size + 32, window.Memory.ReadAcquireInt32(data + RecordHeader.LengthOffset));
        Assert.Equal(s_unfragmented, window.Memory.ReadAcquireInt32(data + RecordHeader.TypeOffset));
        Assert.True(reader.TryPeek(out var type, out var read));
        Assert.Equal(s_unfragmented, type);
        Assert.Equal(32, read.Length);
        Assert.All(read.ToArray(), b => Assert.Equal(0x5A, b));
    }

    [Fact]
    public void An_aborted_fast_claim_leaves_the_line_as_it_was_and_the_next_claim_takes_it()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var data = ring.Offset + DescriptorRing.DataOffset;

        Assert.True(writer.TryClaimFast(16, out var payload));
        payload.Fill(0x11); // written, then dropped: the length word stays 0, so the reader never sees it
        writer.Abort();
        Assert.Equal(0, window.Memory.ReadAcquireInt32(data + RecordHeader.LengthOffset));
        Assert.Equal(0, window.Memory.ReadAcquireInt32(data + RecordHeader.TypeOffset));
        Assert.False(reader.TryPeek(out _, out _));
        Assert.Equal(0, writer.Position);

        Assert.True(writer.TryClaimFast(8, out payload));
        payload.Fill(0x22);
        writer.Commit(s_unfragmented);
        Assert.True(reader.TryPeek(out var type, out var read));
        Assert.Equal(s_unfragmented, type);
        Assert.Equal([0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22], read.ToArray());
    }

    [Fact]
    public void Fast_claims_committed_over_several_laps_read_back_whole_with_their_type()
    {
        const int capacity = 4096;
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var sent = 0;
        var received = 0;
        while (received < 5 * capacity / Line)
        {
            // Claim until the fast path declines (no room behind the cached head, or the wrap), then read everything.
            var length = 8 + ((sent * 13) % 48); // one line each: 8 to 55 B
            while (writer.TryClaimFast(length, out var payload))
            {
                payload.Fill((byte)sent);
                writer.Commit(s_unfragmented);
                sent++;
                length = 8 + ((sent * 13) % 48);
            }
            if (writer.TryClaim(length, s_unfragmented, out var slow))
            {
                // The slow claim (the wrap, or a fresh head) still works beside the fast one; false: full until the reader returns lines.
                slow.Fill((byte)sent);
                writer.Commit(s_unfragmented);
                sent++;
            }
            while (reader.TryPeek(out var type, out var read))
            {
                Assert.Equal(s_unfragmented, type);
                Assert.Equal(8 + ((received * 13) % 48), read.Length);
                foreach (var b in read)
                {
                    Assert.Equal((byte)received, b);
                }
                reader.ConsumeLazily();
                received++;
            }
            reader.PublishHeadIfStale();
        }
        Assert.Equal(sent, received);
    }
}
