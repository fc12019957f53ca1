using IIC.Hardware;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Fragments on the default ring (round 7, branch frag): an eighth of the ring each, the first ending on a slot boundary,
/// so the writer fills one slot while the reader copies out another. Byte-exact with writer and reader overlapping, and a
/// send that runs out of time or is cancelled mid-message still ends it with an Abandon record.
/// </summary>
public class FragmentSizingTests
{
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Theory]
    [InlineData(1 << 20, 8, 128 << 10)]
    [InlineData(1 << 20, 4, 256 << 10)] // IIC_FRAGMENT_FRACTION=4: the largest record, as before round 7
    [InlineData(1 << 20, 16, 64 << 10)]
    [InlineData(DescriptorRing.MinCapacity, 8, 128)]
    [InlineData(DescriptorRing.MinCapacity, 32, 128)] // never below two record lines
    [InlineData(1 << 30, 8, 128 << 20)]
    public void A_fragment_is_a_fraction_of_the_ring_never_above_the_largest_record(int capacity, int fraction, int expected)
    {
        var record = WindowEndpoint.FragmentRecordLength(capacity, fraction);
        Assert.Equal(expected, record);
        Assert.True(record <= capacity / DescriptorRing.MaxRecordFraction);
    }

    [Theory]
    [InlineData(1 << 20)]
    [InlineData(DescriptorRing.MinCapacity)]
    [InlineData(64 << 10)]
    public void The_first_fragment_ends_on_a_slot_boundary_and_fits_one_record(int capacity)
    {
        var slot = WindowEndpoint.FragmentRecordLength(capacity, 8);
        var maxRecord = capacity / DescriptorRing.MaxRecordFraction;
        // Every line-aligned tail position in two laps of the ring (sampled at a prime stride of lines above 4 KiB rings).
        var stride = capacity <= 4096 ? DescriptorRing.RecordAlignment : DescriptorRing.RecordAlignment * 61;
        for (long position = 0; position < 2L * capacity; position += stride)
        {
            var first = WindowEndpoint.FirstFragmentRecordLength(position, slot, maxRecord);
            Assert.True((position + first) % slot == 0, $"at {position} the first fragment ({first} B) does not end on a {slot} B slot boundary");
            Assert.InRange(first, slot / 2, maxRecord);
            Assert.Equal(0, first % DescriptorRing.RecordAlignment);
            Assert.True(first - RecordHeader.Size > RecordHeader.MessageLengthPrefixSize, "the first fragment carries some of the message");
        }
        // The old size (a quarter of the ring): the first fragment is a whole record wherever the tail is.
        Assert.Equal(maxRecord, WindowEndpoint.FirstFragmentRecordLength(DescriptorRing.RecordAlignment, maxRecord, maxRecord));
    }

    [Theory]
    [InlineData("poll")]
    [InlineData("receive")]
    public async Task A_writer_and_a_reader_overlap_on_the_default_ring_byte_exact(string api)
    {
        // The default 1 MiB ring: the 1 and 3 MiB messages are 8 and 24 fragments of 128 KiB, more than the ring holds,
        // so they arrive only if the reader frees slots while the writer still writes; the small ones shift the tail so
        // first fragments of every length occur.
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { Name = "fragments-overlap" });
        using (a)
        using (b)
        {
            int[] sizes = [1 << 20, 40, (3 << 20) + 17, 131_065, 1, 262_144, 700_001];
            const int Rounds = 3;
            var writer = Task.Factory.StartNew(() =>
            {
                var buffer = new byte[sizes.Max()];
                for (var i = 0; i < Rounds * sizes.Length; i++)
                {
                    var message = buffer.AsSpan(0, sizes[i % sizes.Length]);
                    PatternedMessage.Fill(message, i);
                    Assert.True(a.TrySend(message, s_timeout), $"message {i} was not taken within {s_timeout}");
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

            var destination = new byte[sizes.Max()];
            var handler = new Collector(destination);
            for (var i = 0; i < Rounds * sizes.Length; i++)
            {
                int length;
                if (api == "poll")
                {
                    Assert.Equal(1, b.Poll(ref handler, 1, s_timeout));
                    length = handler.Length;
                }
                else
                {
                    Assert.True(b.TryReceive(destination, out length, s_timeout), $"message {i} did not arrive within {s_timeout}");
                }
                Assert.Equal(sizes[i % sizes.Length], length);
                Assert.Null(PatternedMessage.Check(destination.AsSpan(0, length), i));
            }
            await writer.WaitAsync(s_timeout);
            Assert.Equal(0, b.Poll(ref handler, 1));
            Assert.Equal(Rounds * sizes.Sum(static s => (long)s), b.GetStatistics().BytesReceived);
            Assert.Equal(0, b.Endpoint.AbandonedReceives);
        }
    }

    [Fact]
    public async Task A_send_that_times_out_or_is_cancelled_mid_message_on_the_default_ring_is_abandoned_and_the_next_arrives_whole()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { Name = "fragments-abandon" });
        using (a)
        using (b)
        {
            // Nobody reads yet: 2 MiB do not fit the 1 MiB ring, so both sends stop part-way (seven fragments in) and
            // must end the message with an Abandon record in the room kept for it.
            var message = new byte[2 << 20];
            PatternedMessage.Fill(message, 1);
            Assert.False(a.TrySend(message, TimeSpan.FromMilliseconds(100)));
            Assert.Equal(1, a.Endpoint.AbandonedSends);

            Assert.False(a.TrySend(message, TimeSpan.FromMilliseconds(100))); // the first one's fragments still fill the ring: nothing written
            Assert.Equal(1, a.Endpoint.AbandonedSends);

            // Drain the abandoned message (its fragments are discarded), then cancel a send once it waits mid-message.
            var destination = new byte[message.Length];
            Assert.False(b.TryReceive(destination, out _));
            Assert.Equal(1, b.Endpoint.AbandonedReceives);
            using (var cancel = new CancellationTokenSource())
            {
                var stalls = a.GetStatistics().RingFullStalls;
                var send = Task.Factory.StartNew(() => a.Send(message, cancel.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                // The first fragment always fits the empty ring, so a stall means the send is waiting part-way.
                Assert.True(SpinWait.SpinUntil(() => a.GetStatistics().RingFullStalls > stalls, s_timeout), "the send never waited for room");
                cancel.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(s_timeout));
            }
            Assert.Equal(2, a.Endpoint.AbandonedSends);

            // A reader now: the abandoned fragments are discarded and the next message arrives whole.
            PatternedMessage.Fill(message, 2);
            var destinationBuffer = new byte[message.Length];
            var reader = Task.Factory.StartNew(() =>
            {
                Assert.True(b.TryReceive(destinationBuffer, out var length, s_timeout), $"nothing arrived within {s_timeout}");
                return length;
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.True(a.TrySend(message, s_timeout), $"the message was not taken within {s_timeout}");
            Assert.Equal(message.Length, await reader.WaitAsync(s_timeout));
            Assert.Null(PatternedMessage.Check(destinationBuffer, 2));
            Assert.Equal(a.Endpoint.AbandonedSends, b.Endpoint.AbandonedReceives);
            Assert.Equal(1, b.GetStatistics().MessagesReceived);
        }
    }

    /// <summary>Copies the polled message out (the span is valid only during the call).</summary>
    private struct Collector(byte[] destination) : IMessageHandler
    {
        public int Length { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            message.CopyTo(destination);
            Length = message.Length;
        }
    }
}
