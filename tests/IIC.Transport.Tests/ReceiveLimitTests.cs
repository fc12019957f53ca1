using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// ChannelOptions.MaxReceiveMessageLength (docs/window-layout.md 2.4, "Receive limit"): a fragmented message whose first
/// fragment announces more than the limit is refused before anything is rented or copied for it, its fragments are
/// dropped as they arrive, each refusal is reported (ReceiveLimitExceededException) and counted, and the next message
/// arrives intact; a message of one record is always delivered.
/// </summary>
public class ReceiveLimitTests
{
    private const int Ring = 64 * 1024; // a record holds just under 16 KiB
    private const int Limit = 256 * 1024;
    private const int Oversized = (8 << 20) + 3;
    private const int Normal = 100_000; // fragmented on this ring, within the limit
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    private static readonly string[] s_apis = ["Receive", "Receive-token", "TryReceive", "Poll", "Poll-waiting", "ReceiveAsync"];

    [Fact]
    public async Task A_peer_message_over_the_limit_is_refused_on_every_receive_API_without_buffering_and_the_next_arrives_intact()
    {
        using var host = PartitionHost.Start();
        // The child echoes what we send: its echo of the oversized message is a peer's fragmented message over our limit.
        var (child, channels) = host.StartChild("transport-echo", Ring, 1, new ChannelOptions { MaxReceiveMessageLength = Limit }, "receive-send");
        using (child)
        {
            using (var channel = channels[0])
            {
                // Sends from a thread of their own: the echoes wait for our receives, and our sends for the child's.
                var sender = Task.Factory.StartNew(() =>
                {
                    var oversized = new byte[Oversized];
                    var normal = new byte[Normal];
                    for (var i = 0; i < s_apis.Length; i++)
                    {
                        PatternedMessage.Fill(oversized, 100 + i);
                        channel.Send(oversized);
                        PatternedMessage.Fill(normal, i);
                        channel.Send(normal);
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

                var buffer = new byte[Oversized + 1]; // room for it: the limit refuses it, not the buffer
                for (var i = 0; i < s_apis.Length; i++)
                {
                    var api = s_apis[i];
                    int length;
                    if (api == "ReceiveAsync")
                    {
                        var refusedAsync = await Assert.ThrowsAsync<ReceiveLimitExceededException>(async () => await channel.ReceiveAsync(buffer).AsTask().WaitAsync(s_timeout));
                        AssertRefusal(refusedAsync);
                        length = await channel.ReceiveAsync(buffer).AsTask().WaitAsync(s_timeout); // drops the rest of the refused one, then this
                    }
                    else
                    {
                        length = ReceiveRefusedThenNext(channel, api, buffer);
                    }
                    Assert.Equal(Normal, length);
                    Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, length), i));
                    Assert.True(channel.Endpoint.ReassemblyBufferLength < Oversized, $"{api}: a {channel.Endpoint.ReassemblyBufferLength}-byte reassembly buffer was rented for the refused message");
                    Assert.Equal(i + 1, channel.GetStatistics().MessagesRefused);
                }
                await sender.WaitAsync(s_timeout);
                var statistics = channel.GetStatistics();
                Assert.Equal(s_apis.Length, statistics.MessagesRefused);
                Assert.Equal(s_apis.Length, statistics.MessagesReceived); // the refused ones are not counted as received
                Assert.Equal(0, channel.Endpoint.AbandonedReceives);
                Assert.Equal(0, statistics.Faults);
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    /// <summary>
    /// On this thread, synchronously: the refusal, then the next message, allocating nothing near the refused length
    /// (the old Poll rented the whole message from the ArrayPool and filled it).
    /// </summary>
    private static int ReceiveRefusedThenNext(IicChannel channel, string api, byte[] buffer)
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var refused = Assert.Throws<ReceiveLimitExceededException>(() => ReceiveOne(channel, api, buffer));
        AssertRefusal(refused);
        var length = ReceiveOne(channel, api, buffer);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(allocated < Oversized / 8, $"{api}: {allocated} bytes allocated on the receiving thread for a refused {Oversized}-byte message and a {Normal}-byte one");
        return length;
    }

    private static int ReceiveOne(IicChannel channel, string api, byte[] buffer)
    {
        switch (api)
        {
            case "Receive":
                return channel.Receive(buffer);
            case "Receive-token":
                {
                    using var cancel = new CancellationTokenSource(s_timeout);
                    return channel.Receive(buffer, cancel.Token);
                }
            case "TryReceive":
                {
                    Assert.True(channel.TryReceive(buffer, out var length, s_timeout), "TryReceive: nothing arrived in time");
                    return length;
                }
            case "Poll":
                {
                    var handler = new CopyOut(buffer);
                    var deadline = DateTime.UtcNow + s_timeout;
                    while (channel.Poll(ref handler, 1) == 0)
                    {
                        Assert.True(DateTime.UtcNow < deadline, "Poll: nothing arrived in time");
                        channel.WaitToReceive(Native.Deadline.After(TimeSpan.FromMilliseconds(100), "timeout"));
                    }
                    return handler.Length;
                }
            case "Poll-waiting":
                {
                    var handler = new CopyOut(buffer);
                    Assert.Equal(1, channel.Poll(ref handler, 1, s_timeout));
                    return handler.Length;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(api), api, "unknown receive API");
        }
    }

    private static void AssertRefusal(ReceiveLimitExceededException refused)
    {
        Assert.Equal(Oversized, refused.MessageLength);
        Assert.Equal(Limit, refused.Limit);
        Assert.Contains("MaxReceiveMessageLength", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_limit_is_from_0_to_MaxMessageLength_and_defaults_to_MaxMessageLength()
    {
        Assert.Equal(IicChannel.MaxMessageLength, ChannelOptions.Default.MaxReceiveMessageLength);
        Assert.Equal(0, new ChannelOptions { MaxReceiveMessageLength = 0 }.MaxReceiveMessageLength);
        Assert.Equal(IicChannel.MaxMessageLength, (ChannelOptions.Default with { MaxReceiveMessageLength = IicChannel.MaxMessageLength }).MaxReceiveMessageLength);
        foreach (var bad in new[] { -1L, IicChannel.MaxMessageLength + 1, long.MaxValue, long.MinValue })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => ChannelOptions.Default with { MaxReceiveMessageLength = bad });
            Assert.Contains("MaxReceiveMessageLength must be from 0 to 1073741824", e.Message, StringComparison.Ordinal);
            Assert.Equal(bad, e.ActualValue);
        }
    }

    [Fact]
    public void A_message_of_one_record_is_always_delivered_and_a_limit_of_0_refuses_every_fragmented_one()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = Ring, MaxReceiveMessageLength = 0, Name = "limit-zero" });
        using (a)
        using (b)
        {
            var whole = new byte[a.MaxClaimLength];
            PatternedMessage.Fill(whole, 1);
            var fragmented = new byte[a.MaxClaimLength + 1];
            PatternedMessage.Fill(fragmented, 2);
            var buffer = new byte[fragmented.Length];
            Assert.True(a.TrySend(whole, s_timeout));
            Assert.True(a.TrySend(fragmented, s_timeout)); // two records: it fits the empty part of the ring
            Assert.True(a.TrySend(whole, s_timeout));

            Assert.True(b.TryReceive(buffer, out var length));
            Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, length), 1));
            var refused = Assert.Throws<ReceiveLimitExceededException>(() => b.TryReceive(buffer, out _));
            Assert.Equal(fragmented.Length, refused.MessageLength);
            Assert.Equal(0, refused.Limit);
            Assert.True(b.TryReceive(buffer, out length));
            Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, length), 1));
            Assert.False(b.TryReceive(buffer, out _));
            Assert.Equal(1, b.GetStatistics().MessagesRefused);
            Assert.Equal(2, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public void A_refused_message_its_sender_abandons_is_counted_once_and_the_next_arrives_whole()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { MaxReceiveMessageLength = Limit, Name = "limit-abandon" });
        using (a)
        using (b)
        {
            // Nobody reads: 2 MiB do not fit the 1 MiB ring, so the send stops part-way and ends the message with Abandon.
            var message = new byte[2 << 20];
            PatternedMessage.Fill(message, 1);
            Assert.False(a.TrySend(message, TimeSpan.FromMilliseconds(100)));
            Assert.Equal(1, a.Endpoint.AbandonedSends);

            var buffer = new byte[message.Length];
            Assert.Throws<ReceiveLimitExceededException>(() => b.TryReceive(buffer, out _)); // refused, and dropped to its Abandon
            var small = new byte[1000];
            PatternedMessage.Fill(small, 2);
            Assert.True(a.TrySend(small, s_timeout));
            Assert.True(b.TryReceive(buffer, out var length));
            Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, length), 2));
            Assert.Equal(1, b.GetStatistics().MessagesRefused);
            Assert.Equal(0, b.Endpoint.AbandonedReceives); // reported once, as refused
        }
    }

    [Fact]
    public async Task A_Poll_hands_out_the_messages_before_a_refused_one_and_the_next_Poll_reports_it()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { MaxReceiveMessageLength = Limit, Name = "limit-poll" });
        using (a)
        using (b)
        {
            var small = new byte[100];
            var oversized = new byte[4 << 20]; // larger than the 1 MiB ring: the receiver must drop it as it arrives
            var sender = Task.Factory.StartNew(() =>
            {
                a.Send(small);
                a.Send(small);
                a.Send(oversized);
                a.Send(small);
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var buffer = new byte[oversized.Length];
            var handler = new CopyOut(buffer);
            // Wait until the first fragment of the oversized one is there behind the two small ones.
            Assert.True(SpinWait.SpinUntil(() => a.GetStatistics().OutgoingOccupancy > Limit, s_timeout), "the oversized message's first fragments never arrived");
            Assert.Equal(2, b.Endpoint.Poll(ref handler, 10)); // the endpoint's own poll (the channel's fast path would stop at the fragment anyway)
            Assert.Throws<ReceiveLimitExceededException>(() => b.Poll(ref handler, 10));
            Assert.Equal(1, b.Poll(ref handler, 10, s_timeout)); // the rest dropped as it arrives, then the last one
            Assert.Equal(small.Length, handler.Length);
            await sender.WaitAsync(s_timeout);
            Assert.Equal(1, b.GetStatistics().MessagesRefused);
            Assert.Equal(3, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public async Task A_grouped_channel_refuses_a_message_over_its_limit_and_its_group_reports_the_next()
    {
        var name = "limit-group-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = IIC.Hardware.Hypervisor.Start(name);
        using var receiver = IIC.Hardware.Partition.Attach(name, "receiver");
        using var sender = IIC.Hardware.Partition.Attach(name, "sender");
        using var listener = IicListener.Listen(receiver, "limited", new ChannelOptions { Grouped = true, RingCapacity = Ring, MaxReceiveMessageLength = Limit });
        using var client = IicChannel.Connect(sender, "limited", new ChannelOptions { RingCapacity = Ring });
        using var server = await listener.AcceptAsync().AsTask().WaitAsync(s_timeout);
        var group = new IicChannelGroup(receiver);
        group.Add(server);
        var normal = new byte[Normal];
        PatternedMessage.Fill(normal, 7);
        var sending = Task.Factory.StartNew(() =>
        {
            client.Send(new byte[1 << 20]); // sixteen times the ring: dropped as it arrives
            client.Send(normal);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var buffer = new byte[2 << 20];
        var refused = 0;
        var received = -1;
        while (received < 0)
        {
            Assert.Same(server, group.WaitAny(s_timeout));
            while (true)
            {
                try
                {
                    if (!server.TryReceive(buffer, out var length))
                    {
                        break;
                    }
                    received = length;
                }
                catch (ReceiveLimitExceededException e)
                {
                    Assert.Equal(1 << 20, e.MessageLength);
                    refused++;
                }
            }
        }
        await sending.WaitAsync(s_timeout);
        Assert.Equal(1, refused);
        Assert.Null(PatternedMessage.Check(buffer.AsSpan(0, received), 7));
        Assert.Equal(1, server.GetStatistics().MessagesRefused);
        group.Remove(server);
    }

    /// <summary>Copies the polled message out (the span is valid only during the call).</summary>
    private struct CopyOut(byte[] destination) : IMessageHandler
    {
        public int Length { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            message.CopyTo(destination);
            Length = message.Length;
        }
    }
}
