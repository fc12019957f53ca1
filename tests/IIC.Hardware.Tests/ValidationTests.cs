using static IIC.Tests.TestSupport;

namespace IIC.Hardware.Tests;

/// <summary>
/// Never trust the peer: corrupt each shared word in turn and assert a fault that names the violation, with no
/// write anywhere in the window but the reader's own head, and no hang.
/// </summary>
public sealed class ValidationTests : IDisposable
{
    private const int Capacity = 1024; // largest record 256
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(5);

    private readonly SharedWindow _window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
    private readonly DescriptorRing _ring;

    public ValidationTests() => _ring = _window.GetRing(0);

    public void Dispose() => _window.Dispose();

    private long Data => _ring.Offset + DescriptorRing.DataOffset;

    private void WriteHeader(int offset, int length, int type)
    {
        _window.Memory.WriteReleaseInt32(Data + offset + 4, type);
        _window.Memory.WriteReleaseInt32(Data + offset, length);
    }

    /// <summary>Moves both ends to <paramref name="position"/> with real records, so the next header is read there.</summary>
    private RingReader ReaderAt(int position)
    {
        var writer = _ring.CreateWriter();
        var reader = _ring.CreateReader();
        while (reader.Position < position)
        {
            var step = Math.Min(position - (int)reader.Position, 192); // a multiple of the 64-byte record alignment
            Assert.True(writer.TryWrite(new byte[step - 8], (int)RecordFraming.Unfragmented));
            Assert.True(reader.TryPeek(out _, out _));
            reader.Consume();
        }
        Assert.Equal(position, reader.Position);
        return reader;
    }

    private async Task AssertReaderFaults(RingReader reader, string expected)
    {
        var before = _window.Memory.GetSpan(0, (int)_window.Size).ToArray();
        var thrown = await RunBounded(() => reader.TryPeek(out _, out _), s_bound);
        var fault = Assert.IsType<RingFaultException>(thrown);
        Assert.Contains(expected, fault.Message, StringComparison.Ordinal);
        Assert.Contains("Ring '0->1'", fault.Message, StringComparison.Ordinal);
        Assert.NotNull(reader.FaultReason);
        var after = _window.Memory.GetSpan(0, (int)_window.Size).ToArray();
        Assert.True(before.AsSpan().SequenceEqual(after), "the faulting reader must not write to the window");
        // Faulted for good: even a repaired header is refused.
        WriteHeader((int)(reader.Position & (Capacity - 1)), 16, (int)RecordFraming.Unfragmented);
        Assert.IsType<RingFaultException>(await RunBounded(() => reader.TryPeek(out _, out _), s_bound));
    }

    [Theory]
    [InlineData("beyond the area", 0, 2000, 3, "has length 2000")]
    [InlineData("int.MaxValue", 0, int.MaxValue, 3, "2147483647")]
    [InlineData("shorter than a header", 0, 4, 3, "has length 4")]
    [InlineData("zero-length header", 0, 7, 3, "has length 7")]
    [InlineData("above the largest record", 0, 300, 3, "above the largest record 256")]
    [InlineData("bad flags", 0, 16, 0x10 | 3, "flags within 0xf")]
    [InlineData("bad flags high in the low byte", 0, 16, 0x80, "flags within 0xf")]
    [InlineData("negative (a claim marker of layout 1)", 0, -4, 3, "record at offset 0 (position 0) has the negative length -4")]
    [InlineData("negative and large", 0, -300, 3, "has the negative length -300")]
    [InlineData("int.MinValue", 0, int.MinValue, 3, "has the negative length")]
    [InlineData("record crossing the end", 960, 100, 3, "record at offset 960")]
    [InlineData("negative at the end", 960, -40, 3, "record at offset 960 (position 960) has the negative length")]
    [InlineData("padding crossing the end", 960, 100, 4, "record at offset 960")]
    [InlineData("padding far beyond the end", 512, 4096, 4, "record at offset 512")]
    [InlineData("padding of int.MaxValue", 0, int.MaxValue, 4, "2147483647")]
    [InlineData("padding of int.MaxValue - 6", 0, int.MaxValue - 6, 4, "2147483641")]
    public async Task Corrupt_record_header_faults_the_reader_and_names_the_violation(string what, int position, int length, int type, string expected)
    {
        _ = what;
        var reader = ReaderAt(position);
        WriteHeader(position, length, type);
        await AssertReaderFaults(reader, expected);
    }

    [Fact]
    public async Task Padding_chain_of_a_whole_lap_does_not_hold_the_reader()
    {
        // A hostile writer fills every line of the area with short padding records. Layout version 2 publishes
        // padding only at a wrap, reaching the end of the area, so the first short one faults the reader at once.
        for (var offset = 0; offset < Capacity; offset += DescriptorRing.RecordAlignment)
        {
            WriteHeader(offset, 8, (int)RecordFraming.Padding);
        }
        var reader = _ring.CreateReader();
        var thrown = await RunBounded(() => reader.TryPeek(out _, out _), s_bound);
        var fault = Assert.IsType<RingFaultException>(thrown);
        Assert.Contains("padding always reaches the end of the data area", fault.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Writer_faults_when_the_consumer_head_runs_ahead_of_the_tail()
    {
        var writer = _ring.CreateWriter();
        Assert.True(writer.TryWrite(new byte[8], 3));
        _window.Memory.WriteReleaseInt64(_ring.Offset + DescriptorRing.HeadOffset, 4096);
        var thrown = await RunBounded(() =>
        {
            while (writer.TryWrite(new byte[100], 3))
            {
            }
        }, s_bound);
        var fault = Assert.IsType<RingFaultException>(thrown);
        Assert.Contains("the consumer's head 4096 is outside [0, ", fault.Message, StringComparison.Ordinal);
        Assert.IsType<RingFaultException>(await RunBounded(() => writer.TryWrite(new byte[8], 3), s_bound));
    }

    [Fact]
    public async Task Writer_faults_when_the_consumer_head_moves_backwards_or_is_misaligned()
    {
        var writer = _ring.CreateWriter();
        var reader = _ring.CreateReader();
        while (writer.TryWrite(new byte[56], 3))
        {
        }
        for (var i = 0; i < 5; i++)
        {
            Assert.True(reader.TryPeek(out _, out _));
            reader.Consume();
        }
        Assert.True(writer.TryWrite(new byte[56], 3)); // re-reads the head: 320
        _window.Memory.WriteReleaseInt64(_ring.Offset + DescriptorRing.HeadOffset, 64);
        var fault = Assert.IsType<RingFaultException>(await RunBounded(() =>
        {
            while (writer.TryWrite(new byte[56], 3))
            {
            }
        }, s_bound));
        Assert.Contains("the consumer's head 64 is outside [320, ", fault.Message, StringComparison.Ordinal);

        using var other = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
        var ring = other.GetRing(1);
        var w2 = ring.CreateWriter();
        while (w2.TryWrite(new byte[56], 3))
        {
        }
        other.Memory.WriteReleaseInt64(ring.Offset + DescriptorRing.HeadOffset, 3);
        fault = Assert.IsType<RingFaultException>(await RunBounded(() => w2.TryWrite(new byte[56], 3), s_bound));
        Assert.Contains("misaligned", fault.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-8L, 0L)]
    [InlineData(3L, 0L)]
    [InlineData(4096L, 0L)]
    [InlineData(0L, 8L)]
    public void Writer_refuses_to_attach_to_an_impossible_tail_and_head(long tail, long head)
    {
        _window.Memory.WriteReleaseInt64(_ring.Offset + DescriptorRing.TailOffset, tail);
        _window.Memory.WriteReleaseInt64(_ring.Offset + DescriptorRing.HeadOffset, head);
        var fault = Assert.Throws<RingFaultException>(_ring.CreateWriter);
        Assert.Contains("not a valid position pair", fault.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-8L)]
    [InlineData(5L)]
    public void Reader_refuses_to_attach_to_a_negative_or_misaligned_head(long head)
    {
        _window.Memory.WriteReleaseInt64(_ring.Offset + DescriptorRing.HeadOffset, head);
        var fault = Assert.Throws<RingFaultException>(_ring.CreateReader);
        Assert.Contains("negative or misaligned", fault.Message, StringComparison.Ordinal);
    }
}
