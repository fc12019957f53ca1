using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Messages many times the ring, read while they are still being written: Poll's reassembly returns each fragment's
/// space as it copies it out, so the writer keeps going mid-message (perf/RESULTS.md, branch bw). Byte-exact, in order,
/// with small messages from a second sending thread, in-process and across processes.
/// </summary>
public class LargeMessageTests
{
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task Poll_reads_messages_many_times_the_ring_in_pieces_while_the_writer_is_still_writing_them()
    {
        // A 4 KiB ring: a record carries at most 1016 bytes, so the 1 MiB message is ~1000 fragments and the ring holds
        // 4 of them. The reader alternates a waiting Poll with one that returns 0 mid-message (it goes on from there).
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, Name = "large-in-pieces" });
        using (a)
        using (b)
        {
            int[] sizes = [1 << 20, 24, 100_003, 1017, 3, (1 << 20) + 5];
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

            var state = new Expectations(sizes);
            var handler = new Checker(state);
            var deadline = DateTime.UtcNow + s_timeout;
            while (state.Next < Rounds * sizes.Length)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {state.Next} messages arrived in {s_timeout}");
                var handled = state.Next % 2 == 0 ? b.Poll(ref handler, 1) : b.Poll(ref handler, 2, TimeSpan.FromMilliseconds(50));
                if (handled == 0)
                {
                    Thread.Yield(); // mid-message or nothing yet: the writer needs the CPU on a busy box
                }
                Assert.Null(state.Problem);
            }
            await writer.WaitAsync(s_timeout);
            Assert.Equal(0, b.Poll(ref handler, 1));
            var received = b.GetStatistics();
            Assert.Equal(Rounds * sizes.Length, received.MessagesReceived);
            Assert.Equal(Rounds * sizes.Sum(static s => (long)s), received.BytesReceived);
        }
    }

    [Theory]
    [InlineData("poll")]
    [InlineData("receive-send")]
    public async Task A_64_MiB_message_echoes_byte_exact_across_processes_while_another_thread_sends_small_ones(string childMode)
    {
        const int Ring = 1 << 20;
        const int Large = 64 << 20;
        const int Small = 40;
        const int SmallCount = 2000;
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", Ring, childMode);
        using (child)
        {
            using (channel)
            {
                var large = new byte[Large];
                PatternedMessage.Fill(large, -1);
                // The echo of each message is checked as it arrives: the large one whole, the small ones in their order.
                var receiver = Task.Factory.StartNew(() =>
                {
                    var buffer = new byte[Large];
                    var smallSeen = 0;
                    var largeSeen = false;
                    while (smallSeen < SmallCount || !largeSeen)
                    {
                        var length = channel.Receive(buffer);
                        if (length == Large)
                        {
                            Assert.False(largeSeen, "the 64 MiB message came back twice");
                            Assert.True(buffer.AsSpan().SequenceEqual(large), "the 64 MiB message came back different");
                            largeSeen = true;
                            continue;
                        }
                        Assert.Equal(Small, length);
                        Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, length), smallSeen));
                        smallSeen++;
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                var smallSender = Task.Factory.StartNew(() =>
                {
                    var message = new byte[Small];
                    for (var i = 0; i < SmallCount; i++)
                    {
                        PatternedMessage.Fill(message, i);
                        channel.Send(message);
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                var largeSender = Task.Factory.StartNew(() => channel.Send(large), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                await Task.WhenAll(smallSender, largeSender).WaitAsync(s_timeout);
                await receiver.WaitAsync(s_timeout);
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    [Theory]
    [InlineData("poll")]
    [InlineData("receive-send")]
    public async Task Small_messages_that_land_where_large_records_were_a_lap_before_echo_byte_exact_across_processes(string childMode)
    {
        // Issue 17 round 23: a reader leaves the interior line starts of a record over 64 KiB uncleared, and the writer
        // zeroes the end of any record that lands inside one a lap later. A 512 KiB ring carries 100 KiB whole (one
        // record); bursts of 1-300 byte messages between them end at every line of the old interiors. Both directions
        // run the rule: the child's reader leaves this side's large records, its writer the echoes'.
        const int Ring = 512 << 10;
        const int Large = 100_000;
        const int Rounds = 40;
        const int Burst = 60;
        static int LengthOf(int i) => i % (Burst + 1) == 0 ? Large : 1 + (i * 37 % 300);
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", Ring, childMode);
        using (child)
        {
            using (channel)
            {
                const int Count = Rounds * (Burst + 1);
                var receiver = Task.Factory.StartNew(() =>
                {
                    var buffer = new byte[Large];
                    for (var i = 0; i < Count; i++)
                    {
                        var length = channel.Receive(buffer);
                        Assert.Equal(LengthOf(i), length);
                        Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, length), i));
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                var sender = Task.Factory.StartNew(() =>
                {
                    var message = new byte[Large];
                    for (var i = 0; i < Count; i++)
                    {
                        var span = message.AsSpan(0, LengthOf(i));
                        PatternedMessage.Fill(span, i);
                        Assert.True(channel.TrySend(span, s_timeout), $"message {i} was not taken within {s_timeout}");
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                // The receiver first: a wrong echo stops it, and the sender then times out waiting for room.
                await Task.WhenAll(receiver, sender).WaitAsync(s_timeout);
                Assert.Equal(0, channel.GetStatistics().Faults);
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    private sealed class Expectations(int[] sizes)
    {
        public int Next { get; set; }

        public string? Problem { get; set; }

        public int ExpectedLength => sizes[Next % sizes.Length];
    }

    private readonly struct Checker(Expectations state) : IMessageHandler
    {
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            state.Problem ??= message.Length != state.ExpectedLength
                ? $"message {state.Next} is {message.Length} bytes; {state.ExpectedLength} were sent"
                : PatternedMessage.Check(message, state.Next);
            state.Next++;
        }
    }
}
