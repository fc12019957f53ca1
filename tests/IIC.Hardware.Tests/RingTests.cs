using System.Buffers.Binary;
using static IIC.Tests.TestSupport;
using static IIC.Tests.WindowTestSupport;

namespace IIC.Hardware.Tests;

/// <summary>The record protocol of one ring, in one process, over a real sealed window.</summary>
public sealed class RingTests : IDisposable
{
    private const int Capacity = 1024; // largest record 256 bytes, payload 248
    private static readonly int s_unfragmented = (int)RecordFraming.Unfragmented;

    private readonly SharedWindow _window = SharedWindow.Create(WindowOptions.WithCapacity(Capacity));
    private readonly DescriptorRing _ring;
    private readonly RingWriter _writer;
    private readonly RingReader _reader;

    public RingTests()
    {
        _ring = _window.GetRing(0);
        _writer = _ring.CreateWriter();
        _reader = _ring.CreateReader();
    }

    public void Dispose() => _window.Dispose();

    private long DataOffset => _ring.Offset + DescriptorRing.DataOffset;

    private int LengthAt(int offset) => _window.Memory.ReadAcquireInt32(DataOffset + offset);

    private int TypeAt(int offset) => _window.Memory.ReadAcquireInt32(DataOffset + offset + 4);

    private byte[] ReadOne()
    {
        Assert.True(_reader.TryPeek(out _, out var payload), "a record should be waiting");
        var copy = payload.ToArray();
        _reader.Consume();
        return copy;
    }

    [Fact]
    public void Written_record_is_read_in_place_with_its_type_and_the_header_at_the_head()
    {
        Assert.False(_reader.HasData);
        Assert.True(_writer.TryWrite("hello"u8, RecordHeader.MakeType(RecordFraming.Unfragmented, 42)));
        Assert.Equal(8 + 5, LengthAt(0));
        Assert.True(_reader.HasData);
        Assert.True(_reader.TryPeek(out var type, out var payload));
        Assert.Equal(42, RecordHeader.MessageType(type));
        Assert.Equal(RecordFraming.Unfragmented, RecordHeader.Flags(type));
        Assert.Equal("hello"u8.ToArray(), payload.ToArray());
        Assert.True(IsInside(_window, payload), "the payload span should point into the shared window (zero copy)");
        _reader.Consume();
        Assert.Equal(64, _reader.Position); // 13 bytes aligned to the 64-byte line
        Assert.Equal(64, _window.Memory.ReadAcquireInt64(_ring.Offset + DescriptorRing.HeadOffset));
        Assert.Equal(64, _window.Memory.ReadAcquireInt64(_ring.Offset + DescriptorRing.TailOffset));
        Assert.Equal(0, LengthAt(0)); // the consumer cleared the header of the line it consumed
        Assert.False(_reader.TryPeek(out _, out _));
    }

    [Fact]
    public void Wrap_writes_a_padding_record_to_the_end_and_continues_at_offset_zero()
    {
        var payload = new byte[130]; // record 138, 192 bytes with its alignment to 64
        for (var i = 0; i < 5; i++)
        {
            Fill(payload, i);
            Assert.True(_writer.TryWrite(payload, s_unfragmented));
            Assert.True(Matches(ReadOne(), i));
        }
        // Tail at 960: 64 bytes to the end, a 138-byte record does not fit: padding [960, 1024), record at 0.
        Fill(payload, 99);
        Assert.True(_writer.TryWrite(payload, s_unfragmented));
        Assert.Equal(64, LengthAt(960));
        Assert.Equal((int)RecordFraming.Padding, TypeAt(960));
        Assert.Equal(138, LengthAt(0));
        Assert.True(Matches(ReadOne(), 99));
        Assert.Equal(1024 + 192, _reader.Position);
        Assert.False(_reader.TryPeek(out _, out _));
    }

    [Fact]
    public void Record_ending_exactly_at_the_end_needs_no_padding()
    {
        var payload = new byte[248]; // record 256: four fill the area exactly (no slack: the consumer clears headers)
        for (var round = 0; round < 12; round++)
        {
            Fill(payload, round);
            Assert.True(_writer.TryWrite(payload, s_unfragmented));
            Assert.True(Matches(ReadOne(), round), $"round {round}");
        }
        Assert.Equal(12 * 256, _reader.Position);
    }

    [Fact]
    public void Stale_bytes_at_a_future_header_position_never_leak()
    {
        // Long records whose payload looks like valid headers everywhere ([16, Unfragmented] pairs): after a wrap,
        // a reader that trusted stale bytes at its head would deliver phantom records. The consumer clears the start
        // of every line it consumed, so none survives into the next lap.
        var poison = new byte[248];
        for (var i = 0; i + 8 <= poison.Length; i += 8)
        {
            BinaryPrimitives.WriteInt32LittleEndian(poison.AsSpan(i), 16);
            BinaryPrimitives.WriteInt32LittleEndian(poison.AsSpan(i + 4), s_unfragmented);
        }
        var random = new Random(1234);
        for (var lap = 0; lap < 50; lap++)
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.True(_writer.TryWrite(poison, s_unfragmented));
                Assert.Equal(poison, ReadOne());
            }
            for (var i = 0; i < 40; i++)
            {
                var small = new byte[random.Next(0, 24)];
                Fill(small, i);
                Assert.True(_writer.TryWrite(small, s_unfragmented));
                Assert.True(_reader.TryPeek(out _, out var got));
                Assert.True(got.SequenceEqual(small), $"lap {lap} record {i}: got {got.Length} bytes, wrote {small.Length}");
                _reader.Consume();
                Assert.False(_reader.HasData, $"lap {lap} record {i}: stale bytes at the next header were seen as data");
                Assert.False(_reader.TryPeek(out _, out _), $"lap {lap} record {i}: a phantom record was delivered");
            }
        }
    }

    [Fact]
    public void Claim_is_invisible_until_commit_then_delivered_in_place()
    {
        Assert.True(_writer.TryClaim(100, 0, out var span));
        Assert.True(_writer.HasOpenClaim);
        Assert.Equal(0, LengthAt(0)); // a claim leaves the header at 0 (layout version 2): nothing yet
        Assert.False(_reader.HasData);
        Assert.False(_reader.TryPeek(out _, out _));
        Fill(span, 5);
        Assert.False(_reader.TryPeek(out _, out _));
        _writer.Commit(RecordHeader.MakeType(RecordFraming.Unfragmented, 7));
        Assert.False(_writer.HasOpenClaim);
        Assert.True(_reader.TryPeek(out var type, out var payload));
        Assert.Equal(7, RecordHeader.MessageType(type));
        Assert.True(Matches(payload, 5));
        Assert.Equal(100, payload.Length);
    }

    [Fact]
    public void Aborted_claim_delivers_nothing_and_the_reader_skips_it_even_at_the_wrap()
    {
        var big = new byte[200];
        for (var round = 0; round < 10; round++)
        {
            Assert.True(_writer.TryClaim(150 + round, 0, out var span));
            Fill(span, -1);
            _writer.Abort();
            Fill(big, round);
            Assert.True(_writer.TryWrite(big, s_unfragmented));
            Assert.True(Matches(ReadOne(), round), $"round {round}: the reader should skip the aborted claim");
            Assert.False(_reader.TryPeek(out _, out _));
        }
    }

    [Fact]
    public void A_second_claim_or_a_write_while_a_claim_is_open_throws_and_commit_without_claim_throws()
    {
        Assert.Throws<InvalidOperationException>(() => _writer.Commit(s_unfragmented));
        Assert.Throws<InvalidOperationException>(_writer.Abort);
        Assert.True(_writer.TryClaim(8, 0, out _));
        Assert.Throws<InvalidOperationException>(() => _writer.TryClaim(8, 0, out _));
        Assert.Throws<InvalidOperationException>(() => _writer.TryWrite("x"u8, s_unfragmented));
        _writer.Commit(s_unfragmented);
        Assert.Throws<InvalidOperationException>(() => _writer.Commit(s_unfragmented));
        Assert.Equal(8, ReadOne().Length);
    }

    [Fact]
    public void Oversized_and_negative_lengths_are_refused_before_touching_the_ring()
    {
        Assert.Equal(248, _writer.MaxPayloadLength);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _writer.TryWrite(new byte[249], s_unfragmented));
        Assert.Contains("248", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => _writer.TryClaim(-1, 0, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => _writer.TryClaim(249, 0, out _));
        Assert.Equal(0, LengthAt(0));
        Assert.True(_writer.TryWrite(new byte[248], s_unfragmented));
    }

    [Fact]
    public void Full_ring_refuses_writes_until_the_reader_consumes()
    {
        var payload = new byte[56]; // record 64
        var written = 0;
        while (_writer.TryWrite(payload, s_unfragmented))
        {
            written++;
            Assert.True(written < 100, "the ring never reported full");
        }
        Assert.Equal(16, written); // 16 x 64 = 1024: the ring fills to its last byte (no zero-ahead slack)
        Assert.False(_writer.HasRoomFor(56));
        Assert.False(_writer.TryClaim(56, 0, out _));
        for (var i = 0; i < 16; i++)
        {
            Assert.Equal(56, ReadOne().Length);
        }
        Assert.True(_writer.TryWrite(payload, s_unfragmented), "room after consuming");
    }

    [Fact]
    public void Space_returns_only_when_the_head_is_published()
    {
        var payload = new byte[56];
        while (_writer.TryWrite(payload, s_unfragmented))
        {
        }
        Assert.True(_reader.TryPeek(out _, out _));
        _reader.Consume(publish: false);
        Assert.False(_writer.TryWrite(payload, s_unfragmented), "the writer must not reuse space the reader has not released");
        _reader.PublishHead();
        Assert.True(_writer.TryWrite(payload, s_unfragmented));
    }

    [Theory]
    [InlineData(1, 1024)]
    [InlineData(2, 1024)]
    [InlineData(3, 4096)]
    [InlineData(4, 65536)]
    [InlineData(0, 2048)] // 0: a fresh seed each run, printed on failure
    public void Random_sizes_and_interleavings_of_write_claim_commit_abort_and_read_preserve_every_byte(int seed, int capacity)
    {
        if (seed == 0)
        {
            seed = Environment.TickCount | 1;
        }
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var ring = window.GetRing(1);
        var writer = ring.CreateWriter();
        var reader = ring.CreateReader();
        var random = new Random(seed);
        var expected = new Queue<(int Salt, int Length, int Type)>();
        var salt = 0;
        for (var step = 0; step < 20_000; step++)
        {
            var op = random.Next(10);
            var length = random.Next(4) == 0 ? random.Next(writer.MaxPayloadLength + 1) : random.Next(64);
            var type = RecordHeader.MakeType(RecordFraming.Unfragmented, (ushort)random.Next(65536));
            if (op < 4)
            {
                var payload = new byte[length];
                Fill(payload, ++salt);
                if (writer.TryWrite(payload, type))
                {
                    expected.Enqueue((salt, length, type));
                }
            }
            else if (op < 6)
            {
                if (writer.TryClaim(length, 0, out var span))
                {
                    Fill(span, ++salt);
                    if (random.Next(3) == 0)
                    {
                        writer.Abort();
                    }
                    else
                    {
                        writer.Commit(type);
                        expected.Enqueue((salt, length, type));
                    }
                }
            }
            else
            {
                var batch = random.Next(1, 5);
                for (var i = 0; i < batch; i++)
                {
                    if (!reader.TryPeek(out var gotType, out var got))
                    {
                        Assert.True(expected.Count == 0, $"seed {seed} step {step}: {expected.Count} records written but none readable");
                        break;
                    }
                    Assert.True(expected.Count > 0, $"seed {seed} step {step}: a record appeared that was never committed");
                    var (s, l, t) = expected.Dequeue();
                    Assert.True(got.Length == l && gotType == t && Matches(got, s), $"seed {seed} step {step}: record {s} differs (length {got.Length} vs {l}, type {gotType:x} vs {t:x})");
                    reader.Consume(publish: random.Next(2) == 0);
                }
                reader.PublishHead();
            }
        }
        while (expected.Count > 0)
        {
            Assert.True(reader.TryPeek(out _, out var got), $"seed {seed}: record lost at the end");
            var (s, l, _) = expected.Dequeue();
            Assert.True(got.Length == l && Matches(got, s), $"seed {seed}: record {s} differs at the end");
            reader.Consume();
        }
        Assert.False(reader.TryPeek(out _, out _), $"seed {seed}: extra record at the end");
    }

    [Theory]
    [InlineData(11, false)]
    [InlineData(0, false)]
    [InlineData(17, true)] // the writer cleans (IIC_WRITER_CLEANS's writer), the reader consumes lazily, as the endpoint does
    [InlineData(0, true)]
    public async Task Producer_and_consumer_threads_exchange_random_records_with_checksums(int seed, bool writerCleans)
    {
        if (seed == 0)
        {
            seed = Environment.TickCount | 1;
        }
        const int count = 300_000;
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var ring = window.GetRing(0);
        var writer = ring.CreateWriter(asymmetricFence: DescriptorRing.AsymmetricFenceEnabled, writerCleans);
        var reader = ring.CreateReader();
        var producer = Task.Factory.StartNew(() =>
        {
            var random = new Random(seed);
            var buffer = new byte[writer.MaxPayloadLength];
            var deadline = DeadlineIn(30);
            for (var i = 0; i < count; i++)
            {
                var length = random.Next(4, random.Next(8) == 0 ? buffer.Length + 1 : 40);
                var payload = buffer.AsSpan(0, length);
                BinaryPrimitives.WriteInt32LittleEndian(payload, i);
                Fill(payload[4..], i);
                var spinner = new SpinWait();
                while (!writer.TryWrite(payload, (int)RecordFraming.Unfragmented))
                {
                    Assert.True(System.Diagnostics.Stopwatch.GetTimestamp() < deadline, $"seed {seed}: producer stuck at {i}");
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var consumer = Task.Factory.StartNew(() =>
        {
            var random = new Random(seed);
            var deadline = DeadlineIn(30);
            for (var i = 0; i < count; i++)
            {
                var length = random.Next(4, random.Next(8) == 0 ? writer.MaxPayloadLength + 1 : 40);
                var spinner = new SpinWait();
                ReadOnlySpan<byte> payload;
                while (!reader.TryPeek(out _, out payload))
                {
                    if (writerCleans)
                    {
                        reader.PublishHeadIfStale(); // found empty: return what was held back, as the endpoint does
                    }
                    Assert.True(System.Diagnostics.Stopwatch.GetTimestamp() < deadline, $"seed {seed}: consumer stuck at {i}");
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
                Assert.True(payload.Length == length && BinaryPrimitives.ReadInt32LittleEndian(payload) == i && Matches(payload[4..], i),
                    $"seed {seed}: record {i} lost, reordered, stale or corrupt (length {payload.Length} vs {length}, seq {BinaryPrimitives.ReadInt32LittleEndian(payload)})");
                if (writerCleans)
                {
                    reader.ConsumeLazily();
                }
                else
                {
                    reader.Consume();
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await Task.WhenAll(producer, consumer).WaitAsync(TimeSpan.FromSeconds(60));
    }
}
