namespace IIC.Hardware.Tests;

/// <summary>
/// Issue 17, round 10: the sender copies a payload of up to a line inline (<c>RingWriter.CopyPayload</c>: the first and
/// the last 2, 4, 8, 16 or 32 bytes, overlapping in the middle) instead of calling Memmove. Every length must land
/// exactly: the payload's bytes, and not one byte before or after it (the record's other bytes, the next line's start,
/// which must stay 0 for the reader, belong to someone else).
/// </summary>
public sealed unsafe class InlineCopyTests
{
    [Fact]
    public void Every_length_up_to_and_past_the_inline_limit_copies_exactly_the_payload()
    {
        const int Guard = 64;
        var random = new Random(17);
        for (var length = 0; length <= RingWriter.InlineCopyLimit + 70; length++)
        {
            for (var misalign = 0; misalign < 8; misalign++)
            {
                var source = new byte[length + misalign];
                random.NextBytes(source);
                var destination = new byte[Guard + length + Guard];
                Array.Fill(destination, (byte)0xEE);
                fixed (byte* d = destination)
                {
                    RingWriter.CopyPayload(source.AsSpan(misalign, length), d + Guard);
                }
                Assert.True(destination.AsSpan(Guard, length).SequenceEqual(source.AsSpan(misalign, length)), $"length {length}, source offset {misalign}: payload differs");
                Assert.True(destination.AsSpan(0, Guard).IndexOfAnyExcept((byte)0xEE) < 0, $"length {length}: wrote before the payload");
                Assert.True(destination.AsSpan(Guard + length).IndexOfAnyExcept((byte)0xEE) < 0, $"length {length}: wrote past the payload");
            }
        }
    }

    [Fact]
    public void Records_of_every_small_length_arrive_whole_through_the_ring()
    {
        // 16 KiB ring (records up to 4 KiB): 131 records of 64-192 B per round, so rounds wrap the ring and the fast path
        // declines at the end (the slow TryWrite pads); every record is read back before the next one.
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(1 << 14));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var random = new Random(10);
        for (var round = 0; round < 20; round++)
        {
            for (var length = 0; length <= 130; length++)
            {
                var payload = new byte[length];
                random.NextBytes(payload);
                Assert.True(writer.TryWriteFast(payload, (int)RecordFraming.Unfragmented) || writer.TryWrite(payload, (int)RecordFraming.Unfragmented));
                Assert.True(reader.TryPeek(out _, out var got), "a record should be waiting");
                Assert.True(got.SequenceEqual(payload), $"round {round}, length {length}");
                reader.Consume();
            }
        }
    }
}
