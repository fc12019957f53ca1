using System.Buffers.Binary;
using System.Diagnostics;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Runs alone (no other test class in parallel): its tests flip <c>WindowEndpoint.SpinBeforeClockEnabled</c>, a
/// process-wide switch read whenever an endpoint is made, so an endpoint another class made meanwhile would take the
/// flipped value (round 11: the switch is only ever flipped while nothing else runs).
/// </summary>
[CollectionDefinition(nameof(SpinBeforeClockTests), DisableParallelization = true)]
public sealed class SpinBeforeClockTestsDefinition;

/// <summary>
/// Issue 17 (round 7): a receive or poll that waits starts with a short clock-free spin when its waiter spins with plain
/// loads anyway (WindowEndpoint.SpinBeforeClock), and only then reads the clock for its deadline. What must hold either
/// way: every message once and in order (small and fragmented, arriving while the call waits), timeouts honoured (zero =
/// once; short timeouts take no first spin), and a wait ended by this side's disposal or the peer's close.
/// </summary>
[Collection(nameof(SpinBeforeClockTests))]
public sealed class SpinBeforeClockTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public void The_class_that_flips_the_process_wide_switch_runs_in_a_collection_without_parallelism()
    {
        // xUnit keeps the names only as constructor arguments: read them from the attribute data.
        var collection = Assert.Single(typeof(SpinBeforeClockTests).GetCustomAttributesData(), data => data.AttributeType == typeof(CollectionAttribute));
        var name = (string?)collection.ConstructorArguments[0].Value;
        var definitionType = Assert.Single(typeof(SpinBeforeClockTests).Assembly.GetTypes(), type => type.GetCustomAttributesData()
            .Any(data => data.AttributeType == typeof(CollectionDefinitionAttribute) && (string?)data.ConstructorArguments[0].Value == name));
        var definition = (CollectionDefinitionAttribute)Attribute.GetCustomAttribute(definitionType, typeof(CollectionDefinitionAttribute))!;
        Assert.True(definition.DisableParallelization);
    }

    [Fact]
    public void The_first_spin_is_taken_only_when_the_waiter_spins_with_plain_loads_anyway()
    {
        Assert.True(SpinsFirst(WaitStrategy.BusySpin));
        Assert.True(SpinsFirst(WaitStrategy.SpinThenPark(TimeSpan.FromMicroseconds(100))));
        Assert.False(SpinsFirst(WaitStrategy.SpinThenPark(TimeSpan.FromMicroseconds(1)))); // shorter than the waiter's plain phase
        Assert.False(SpinsFirst(WaitStrategy.Park));
        Assert.False(SpinsFirst(WaitStrategy.Adaptive)); // its budget is learned from the waits this spin would hide
        WithSwitch(false, () => Assert.False(SpinsFirst(WaitStrategy.BusySpin)));

        static bool SpinsFirst(WaitStrategy strategy)
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = strategy, RingCapacity = 4096 });
            using (a)
            using (b)
            {
                return b.Endpoint.SpinsBeforeClock;
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Receives_and_polls_that_wait_get_every_message_once_in_order(bool spinFirst)
    {
        const int Messages = 3000;
        WithSwitch(spinFirst, () =>
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, RingCapacity = 4096 });
            using (a)
            using (b)
            {
                Assert.Equal(spinFirst, b.Endpoint.SpinsBeforeClock);
                var sender = new Thread(() =>
                {
                    var message = new byte[3000]; // fragments in a 4 KiB ring
                    for (var i = 0; i < Messages; i++)
                    {
                        var length = i % 10 == 0 ? message.Length : 4 + (i % 60);
                        message.AsSpan(0, length).Fill((byte)i);
                        BinaryPrimitives.WriteInt32LittleEndian(message, i);
                        a.Send(message.AsSpan(0, length));
                    }
                }) { IsBackground = true };
                sender.Start();
                var buffer = new byte[3000];
                var handler = new Sequence();
                for (var i = 0; i < Messages; i++)
                {
                    if (i % 2 == 0)
                    {
                        Assert.True(b.TryReceive(buffer, out var length, s_bound), $"message {i} did not arrive");
                        Sequence.Check(buffer.AsSpan(0, length), i);
                    }
                    else
                    {
                        handler.Expected = i;
                        Assert.Equal(1, b.Poll(ref handler, 1, s_bound));
                    }
                }
                Assert.True(sender.Join(s_bound));
                Assert.Null(handler.Problem);
                Assert.False(b.TryReceive(buffer, out _, TimeSpan.Zero)); // nothing extra
            }
        });
    }

    [Fact]
    public void Timeouts_are_honoured_with_and_without_the_first_spin()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, RingCapacity = 4096 });
        using (a)
        using (b)
        {
            Assert.True(b.Endpoint.SpinsBeforeClock);
            var buffer = new byte[64];
            var handler = new Sequence();
            Assert.False(b.TryReceive(buffer, out _, TimeSpan.Zero));
            Assert.Equal(0, b.Poll(ref handler, 1, TimeSpan.Zero));
            // 200 µs: below the first spin's 1 ms floor (no first spin); 5 ms: with it.
            foreach (var timeout in new[] { TimeSpan.FromMicroseconds(200), TimeSpan.FromMilliseconds(5) })
            {
                var started = Stopwatch.GetTimestamp();
                Assert.False(b.TryReceive(buffer, out _, timeout));
                AssertWaited(started, timeout);
                started = Stopwatch.GetTimestamp();
                Assert.Equal(0, b.Poll(ref handler, 1, timeout));
                AssertWaited(started, timeout);
            }
        }

        static void AssertWaited(long started, TimeSpan timeout)
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.True(elapsed >= timeout, $"returned after {elapsed.TotalMicroseconds} µs, before its {timeout.TotalMicroseconds} µs timeout");
            Assert.True(elapsed < s_bound, $"a {timeout.TotalMicroseconds} µs timeout took {elapsed.TotalMilliseconds} ms");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_busy_spinning_wait_ends_when_this_side_is_disposed_or_the_peer_closes(bool disposeThisSide)
    {
        for (var round = 0; round < 20; round++)
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, RingCapacity = 4096 });
            using (a)
            using (b)
            {
                Exception? ended = null;
                var usePoll = round % 2 == 1;
                var receiver = new Thread(() =>
                {
                    try
                    {
                        var handler = new Sequence();
                        var buffer = new byte[64];
                        _ = usePoll ? b.Poll(ref handler, 1, Timeout.InfiniteTimeSpan) : (b.TryReceive(buffer, out _, Timeout.InfiniteTimeSpan) ? 1 : 0);
                    }
                    catch (Exception e)
                    {
                        ended = e;
                    }
                }) { IsBackground = true };
                receiver.Start();
                // No pause: the close lands before, during or after the first spin, which is what the rounds vary.
                (disposeThisSide ? b : a).Dispose();
                Assert.True(receiver.Join(s_bound), "the wait did not end");
                if (disposeThisSide)
                {
                    Assert.IsType<ObjectDisposedException>(ended);
                }
                else
                {
                    Assert.IsType<IicChannelClosedException>(ended);
                }
            }
        }
    }

    private static void WithSwitch(bool on, Action action)
    {
        // Read when an endpoint is made: endpoints other tests make meanwhile may take either value, which both work.
        WindowEndpoint.SpinBeforeClockEnabled = on;
        try
        {
            action();
        }
        finally
        {
            WindowEndpoint.SpinBeforeClockEnabled = Environment.GetEnvironmentVariable("IIC_SPIN_BEFORE_CLOCK") != "0";
        }
    }

    private struct Sequence : IMessageHandler
    {
        public int Expected;
        public string? Problem;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            try
            {
                Check(message, Expected);
            }
            catch (Exception e) when (e is Xunit.Sdk.XunitException)
            {
                Problem ??= e.Message;
            }
        }

        public static void Check(ReadOnlySpan<byte> message, int i)
        {
            Assert.Equal(i % 10 == 0 ? 3000 : 4 + (i % 60), message.Length);
            Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(message));
            Assert.Equal((byte)i, message[^1]);
        }
    }
}
