using System.Buffers.Binary;
using System.Diagnostics;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17: <see cref="IicChannel.Poll{THandler}(ref THandler, int, TimeSpan)"/>, the zero-copy poll that waits
/// (one entry into the receive side for the poll, the wait and the poll after it): its timeout, order, end of
/// stream, argument checks and the receive side's threading guarantees.
/// </summary>
public class WaitingPollTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public void An_empty_channel_returns_0_after_the_timeout_and_at_once_for_a_zero_timeout()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            var handler = new Sequence();
            Assert.Equal(0, b.Poll(ref handler, 4, TimeSpan.Zero));
            var timeout = TimeSpan.FromMilliseconds(60);
            var started = Stopwatch.GetTimestamp();
            Assert.Equal(0, b.Poll(ref handler, 4, timeout));
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.True(elapsed >= timeout, $"returned after {elapsed.TotalMilliseconds} ms, before its {timeout.TotalMilliseconds} ms timeout");
            Assert.True(elapsed < s_bound, $"a {timeout.TotalMilliseconds} ms timeout took {elapsed.TotalMilliseconds} ms");
            Assert.Equal(0, handler.Count);
        }
    }

    [Fact]
    public void The_handler_sees_every_message_once_in_order_small_and_fragmented_while_the_poll_waits_for_them()
    {
        const int Messages = 3000;
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 }); // 3000 B messages fragment in a 4 KiB ring
        using (a)
        using (b)
        {
            var sender = new Thread(() =>
            {
                var message = new byte[3000];
                for (var i = 0; i < Messages; i++)
                {
                    var length = i % 10 == 0 ? message.Length : 4 + (i % 60);
                    message.AsSpan(0, length).Fill((byte)i);
                    BinaryPrimitives.WriteInt32LittleEndian(message, i);
                    a.Send(message.AsSpan(0, length));
                }
            }) { IsBackground = true };
            sender.Start();
            var handler = new Sequence();
            var deadline = Stopwatch.GetTimestamp() + (long)(s_bound.TotalSeconds * Stopwatch.Frequency);
            while (handler.Count < Messages && Stopwatch.GetTimestamp() < deadline)
            {
                var handled = b.Poll(ref handler, 7, s_bound);
                Assert.InRange(handled, 1, 7); // it waited for at least one and honoured the limit
            }
            Assert.True(sender.Join(s_bound));
            Assert.Null(handler.Problem);
            Assert.Equal(Messages, handler.Count);
            Assert.Equal(0, b.Poll(ref handler, 1, TimeSpan.Zero)); // nothing extra
        }
    }

    [Fact]
    public void Bad_arguments_are_refused_before_anything_is_received()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            a.Send(Number(0));
            var handler = new Sequence();
            Assert.Equal("limit", Assert.Throws<ArgumentOutOfRangeException>(() => b.Poll(ref handler, 0, TimeSpan.Zero)).ParamName);
            Assert.Equal("timeout", Assert.Throws<ArgumentOutOfRangeException>(() => b.Poll(ref handler, 1, TimeSpan.FromMilliseconds(-2))).ParamName);
            Assert.Equal(0, handler.Count);
            Assert.Equal(1, b.Poll(ref handler, 1, Timeout.InfiniteTimeSpan)); // still there, and no wait needed
            Assert.Equal(1, handler.Count);
        }
    }

    [Fact]
    public void A_waiting_poll_allocates_nothing()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            var handler = new Sequence();
            var message = new byte[32];
            for (var round = 0; round < 3; round++) // the first rounds warm up (JIT, tiering)
            {
                for (var i = 0; i < 400; i++) // 400 records of 64 B fit the 64 KiB ring: no send waits
                {
                    message.AsSpan().Fill((byte)(handler.Count + i));
                    BinaryPrimitives.WriteInt32LittleEndian(message, handler.Count + i);
                    a.Send(message);
                }
                var before = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < 400; i++)
                {
                    b.Poll(ref handler, 1, s_bound);
                }
                var polled = GC.GetAllocatedBytesForCurrentThread() - before;
                before = GC.GetAllocatedBytesForCurrentThread();
                var timedOut = b.Poll(ref handler, 1, TimeSpan.FromMilliseconds(1)); // one that waits and times out
                var waited = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.Equal(0, timedOut);
                if (round == 2)
                {
                    Assert.Equal((0L, 0L), (polled, waited));
                }
            }
            Assert.Null(handler.Problem);
        }
    }

    [Fact]
    public void A_second_thread_is_refused_on_a_SingleReader_channel_takes_its_turn_on_a_default_one_and_the_handler_cannot_receive()
    {
        foreach (var single in new[] { true, false })
        {
            var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024, SingleReader = single });
            using (a)
            using (b)
            {
                a.Send(Number(0));
                a.Send(Number(1));
                Exception? other = null;
                var otherHandled = -1;
                Exception? reentry = null;
                var handler = new Sequence
                {
                    During = () =>
                    {
                        // This thread holds the receive side inside the handler.
                        other = ThreadingContractTests.RunOnOtherThread(() =>
                        {
                            var second = new Sequence();
                            otherHandled = b.Poll(ref second, 1, TimeSpan.FromMilliseconds(30));
                        });
                        reentry = Record.Exception(() =>
                        {
                            var nested = new Sequence();
                            b.Poll(ref nested, 1, TimeSpan.Zero);
                        });
                    },
                };
                Assert.Equal(1, b.Poll(ref handler, 1, s_bound));
                if (single)
                {
                    Assert.Contains("SingleReader", Assert.IsType<InvalidOperationException>(other).Message, StringComparison.Ordinal);
                }
                else
                {
                    Assert.Null(other);
                    Assert.Equal(0, otherHandled); // it waited its turn for its 30 ms and took nothing
                }
                Assert.Contains("Poll handler", Assert.IsType<InvalidOperationException>(reentry).Message, StringComparison.Ordinal);
                handler.During = null;
                Assert.Equal(1, b.Poll(ref handler, 4, s_bound)); // message 1, once: nothing was lost or handed out twice
                Assert.Null(handler.Problem);
                Assert.Equal(2, handler.Count);
            }
        }
    }

    [Fact]
    public void Disposing_the_channel_ends_a_waiting_poll_with_ObjectDisposedException()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        {
            var waiting = Task.Factory.StartNew(() =>
            {
                var handler = new Sequence();
                return b.Poll(ref handler, 1, Timeout.InfiniteTimeSpan);
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            b.Dispose(); // before or while it waits: either way the documented exception
            var e = Assert.Throws<AggregateException>(() => waiting.Wait(s_bound));
            Assert.IsType<ObjectDisposedException>(e.InnerException);
        }
    }

    [Fact]
    public async Task The_peer_closing_in_another_process_ends_a_waiting_poll_with_ChannelClosed()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-close-after-first", 64 * 1024);
        using (child)
        using (channel)
        {
            var blocked = Task.Factory.StartNew(() =>
            {
                var handler = new Sequence();
                return channel.Poll(ref handler, 1, Timeout.InfiniteTimeSpan);
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            channel.Send("bye"u8); // the child receives it, then disposes its end
            await Assert.ThrowsAsync<IicChannelClosedException>(() => blocked.WaitAsync(s_bound));
            Assert.Equal("closed 3", child.ReadLine());
            Assert.Throws<IicChannelClosedException>(() => PollOne(channel, TimeSpan.FromSeconds(1)));
            child.WriteLine("exit");
            child.AssertExit(0);
        }
    }

    [Fact]
    public void A_grouped_channel_in_a_group_refuses_a_waiting_poll_before_receiving_and_polls_with_a_zero_timeout()
    {
        var name = "wpoll-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = Hypervisor.Start(name);
        using var receiver = Partition.Attach(name, "receiver");
        using var sender = Partition.Attach(name, "sender");
        using var listener = IicListener.Listen(receiver, "svc", new ChannelOptions { Grouped = true, RingCapacity = 4096 });
        using var outgoing = IicChannel.Connect(sender, "svc", new ChannelOptions { RingCapacity = 4096 });
        using var incoming = listener.Accept(TimeSpan.FromSeconds(10));
        var group = new IicChannelGroup(receiver); // in a group, its waits are the group's (out of one, it waits alone: GroupWaitAloneTests)
        group.Add(incoming);
        outgoing.Send(Number(0));
        var refused = Assert.Throws<InvalidOperationException>(() => PollOne(incoming, TimeSpan.FromSeconds(1)));
        Assert.Contains("IicChannelGroup.Remove", refused.Message, StringComparison.Ordinal);
        var handler = new Sequence();
        var deadline = Stopwatch.GetTimestamp() + (long)(s_bound.TotalSeconds * Stopwatch.Frequency);
        while (handler.Count == 0 && Stopwatch.GetTimestamp() < deadline)
        {
            incoming.Poll(ref handler, 1, TimeSpan.Zero); // the refused call took nothing: message 0 is still there
        }
        Assert.Null(handler.Problem);
        Assert.Equal(1, handler.Count);
    }

    private static int PollOne(IicChannel channel, TimeSpan timeout)
    {
        var handler = new Sequence();
        return channel.Poll(ref handler, 1, timeout);
    }

    private static byte[] Number(int value)
    {
        var message = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(message, value);
        return message;
    }

    /// <summary>Checks that messages arrive numbered 0, 1, 2... with every byte after the number equal to the number's low byte.</summary>
    private struct Sequence : IMessageHandler
    {
        public int Count;
        public string? Problem;
        public Action? During;

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            During?.Invoke();
            var number = message.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(message) : -1;
            if (number != Count && Problem is null)
            {
                Problem = $"message {Count} arrived as {number}";
            }
            if (message.Length > 4 && message[4..].ContainsAnyExcept((byte)number) && Problem is null)
            {
                Problem = $"message {number} has a corrupt payload";
            }
            Count++;
        }
    }
}
