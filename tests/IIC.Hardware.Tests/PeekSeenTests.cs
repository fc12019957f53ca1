namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17 (round 21): the receive and poll fast paths' spin hands the length word its look read to
/// <see cref="RingReader.TryPeekSeen"/>, which validates and uses that value instead of loading the length again. A value
/// read from shared memory must get the same checks TryPeekFast gives its own load: a length that is too short, over the
/// largest record, past the end of the data area, or a record of another type is declined with nothing peeked, and the
/// record is then peeked as TryPeekFast peeks it.
/// </summary>
public sealed unsafe class PeekSeenTests
{
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    [Fact]
    public void A_seen_length_is_validated_as_the_fast_peek_validates_its_own_load_and_a_good_one_peeks_the_record()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var payload = new byte[40];
        payload.AsSpan().Fill(7);
        Assert.True(writer.TryWrite(payload, s_unfragmented));
        var record = (byte*)reader.HeadWord;
        var offset = reader.HeadOffset;
        var published = *(int*)record;
        Assert.Equal(RecordHeader.Size + payload.Length, published);

        foreach (var hostile in new[] { 0, RecordHeader.Size - 1, -5, ring.MaxRecordLength + 1, int.MaxValue, ring.Capacity - offset + 1 })
        {
            Assert.False(reader.TryPeekSeen(s_unfragmented, record, offset, hostile, out var refused), $"length {hostile} was accepted");
            Assert.True(refused.IsEmpty, $"length {hostile}: a payload was handed out");
        }
        Assert.False(reader.TryPeekSeen(s_unfragmented + 1, record, offset, published, out _), "a record of another type was accepted");

        Assert.True(reader.TryPeekSeen(s_unfragmented, record, offset, published, out var seen));
        Assert.True(seen.SequenceEqual(payload));
        reader.ConsumePeekedLazily();
        Assert.False(reader.TryPeekFast(s_unfragmented, out _), "the record was consumed once");
    }
}
