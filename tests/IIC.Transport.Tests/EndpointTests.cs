using IIC.Hardware;
using IIC.TestHost;
using static IIC.Tests.TestSupport;

namespace IIC.Transport.Tests;

/// <summary>Message level over one window in one process: fragmentation, reassembly, too-small buffers, close and death.</summary>
[Collection(nameof(IsolatedTests))] // timing: a parked receiver must wake at once
public sealed class EndpointTests
{
    private static int[] SizesAround(int max) =>
    [
        0, 1, 8, 15, 16, 17, max - 1, max, max + 1, max + 7, max + 8, max + 9,
        2 * max - 9, 2 * max - 8, 2 * max, 2 * max + 1, 3 * max + 5, 10 * max + 3, 200_000, 1_000_003,
    ];

    [Fact]
    public async Task Fragmented_messages_of_many_sizes_reassemble_through_TryReceive_and_Poll()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(64 * 1024));
        using var a = new WindowEndpoint(window, 0, WaitStrategy.Adaptive);
        using var b = new WindowEndpoint(window, 1, WaitStrategy.Adaptive);
        var max = a.MaxRecordPayloadLength;
        Assert.Equal(16 * 1024 - 8, max);
        var sizes = SizesAround(max).Concat(SizesAround(max)).Concat(new[] { 16 * 1024 * 1024 }).ToArray();
        var random = new Random(7);
        sizes = sizes.Concat(Enumerable.Range(0, 300).Select(_ => random.Next(0, 5 * max))).ToArray();
        var sender = Task.Factory.StartNew(() =>
        {
            for (var i = 0; i < sizes.Length; i++)
            {
                var message = new byte[Math.Max(sizes[i], 0)];
                Fill(message, i);
                Assert.True(a.Send(message, DeadlineIn(30)), $"message {i} not sent");
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var buffer = new byte[16 * 1024 * 1024];
        var received = 0;
        var usePoll = false;
        while (received < sizes.Length)
        {
            usePoll = !usePoll;
            if (usePoll)
            {
                Assert.True(b.WaitToReceive(DeadlineIn(30)), $"nothing arrived for message {received} ({sizes[received]} bytes); sender: {sender.Exception?.InnerException?.Message ?? sender.Status.ToString()}");
                b.Poll((span, state) =>
                {
                    Assert.True(span.Length == sizes[received] && Matches(span, received), $"polled message {received} ({sizes[received]} bytes) differs (got {span.Length})");
                    received++;
                }, 0, limit: 3);
            }
            else
            {
                Assert.True(b.TryReceive(buffer, out var length, DeadlineIn(30)), $"message {received} did not arrive");
                Assert.True(length == sizes[received] && Matches(buffer.AsSpan(0, length), received), $"message {received} ({sizes[received]} bytes) differs (got {length})");
                received++;
            }
        }
        await sender.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(sizes.Length, b.MessagesReceived);
        Assert.Equal(sizes.Sum(s => (long)s), b.BytesReceived);
        Assert.False(b.TryReceive(buffer, out _, 0));
    }

    [Fact]
    public void Too_small_buffer_throws_and_leaves_the_message_unread_whole_or_fragmented()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(64 * 1024));
        using var a = new WindowEndpoint(window, 0, WaitStrategy.BusySpin);
        using var b = new WindowEndpoint(window, 1, WaitStrategy.BusySpin);
        var small = new byte[100];
        var large = new byte[40_000]; // fragmented: the largest record carries 16 KiB
        Fill(small, 1);
        Fill(large, 2);
        Assert.True(a.Send(small, DeadlineIn(5)));
        Assert.True(a.Send(large, DeadlineIn(5)));
        var e = Assert.Throws<MessageTooLargeException>(() => b.TryReceive(new byte[99], out _, 0));
        Assert.Equal(100, e.NeededLength);
        var buffer = new byte[40_000];
        Assert.True(b.TryReceive(buffer, out var length, 0));
        Assert.True(length == 100 && Matches(buffer.AsSpan(0, 100), 1));
        e = Assert.Throws<MessageTooLargeException>(() => b.TryReceive(new byte[39_999], out _, 0));
        Assert.Equal(40_000, e.NeededLength);
        Assert.Contains("40000", e.Message, StringComparison.Ordinal);
        Assert.True(b.TryReceive(buffer, out length, 0));
        Assert.True(length == 40_000 && Matches(buffer, 2));
        Assert.False(b.TryReceive(buffer, out _, 0));
    }

    [Fact]
    public void Claim_commit_and_abort_at_message_level()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        using var a = new WindowEndpoint(window, 0, WaitStrategy.BusySpin);
        using var b = new WindowEndpoint(window, 1, WaitStrategy.BusySpin);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.TryClaim(a.MaxRecordPayloadLength + 1, out _));
        Assert.True(a.TryClaim(10, out var span));
        Fill(span, 3);
        Assert.Throws<InvalidOperationException>(() => a.TryClaim(10, out _));
        a.Abort();
        Assert.True(a.TryClaim(20, out span));
        Fill(span, 4);
        a.Commit();
        var buffer = new byte[64];
        Assert.True(b.TryReceive(buffer, out var length, 0));
        Assert.True(length == 20 && Matches(buffer.AsSpan(0, 20), 4), "only the committed claim arrives");
        Assert.False(b.TryReceive(buffer, out _, 0));
    }

    [Fact]
    public void After_the_peer_disposes_receive_drains_everything_then_throws_ChannelClosed()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(64 * 1024));
        var a = new WindowEndpoint(window, 0, WaitStrategy.Adaptive);
        using var b = new WindowEndpoint(window, 1, WaitStrategy.Adaptive);
        for (var i = 0; i < 50; i++)
        {
            var message = new byte[i * 20];
            Fill(message, i);
            Assert.True(a.Send(message, DeadlineIn(5)));
        }
        a.Dispose();
        Assert.Equal(SideState.Closed, b.Peer.State);
        var buffer = new byte[5000];
        for (var i = 0; i < 50; i++)
        {
            Assert.True(b.TryReceive(buffer, out var length, DeadlineIn(5)), $"message {i} lost at close");
            Assert.True(length == i * 20 && Matches(buffer.AsSpan(0, length), i));
        }
        Assert.Throws<IicChannelClosedException>(() => b.TryReceive(buffer, out _, DeadlineIn(5)));
        Assert.Throws<IicChannelClosedException>(() => b.Poll((_, _) => { }, 0));
        Assert.Throws<IicChannelClosedException>(() => b.Send(buffer, DeadlineIn(1)));
    }

    [Fact]
    public void After_MarkDead_receive_drains_everything_then_throws_PeerDead_and_a_partial_fragmented_message_is_dropped()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(64 * 1024));
        using var b = new WindowEndpoint(window, 1, WaitStrategy.Adaptive);
        var a = new WindowEndpoint(window, 0, WaitStrategy.Adaptive);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(a.Send(BitConverter.GetBytes(i), DeadlineIn(5)));
        }
        // The start of a fragmented message whose rest never comes, then the hypervisor marks side 0 dead.
        var raw = window.GetRing(0).CreateWriter();
        var begin = new byte[1000];
        BitConverter.TryWriteBytes(begin, 1_000_000L);
        Assert.True(raw.TryWrite(begin, (int)RecordFraming.Begin));
        window.MarkDead(0);
        Assert.Equal(1, b.Peer.Epoch);
        var buffer = new byte[1_000_000];
        for (var i = 0; i < 5; i++)
        {
            Assert.True(b.TryReceive(buffer, out var length, DeadlineIn(5)));
            Assert.Equal(i, BitConverter.ToInt32(buffer, 0));
            Assert.Equal(4, length);
        }
        var e = Assert.Throws<PeerDeadException>(() => b.TryReceive(buffer, out _, DeadlineIn(5)));
        Assert.Contains("middle of a fragmented message", e.Message, StringComparison.Ordinal);
        Assert.Throws<PeerDeadException>(() => b.TryReceive(buffer, out _, DeadlineIn(5)));
    }

    [Fact]
    public async Task A_blocked_receive_ends_promptly_when_the_peer_is_marked_dead()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        using var b = new WindowEndpoint(window, 1, WaitStrategy.Park);
        var receiver = Task.Factory.StartNew(() => Assert.Throws<PeerDeadException>(() => b.TryReceive(new byte[16], out _, DeadlineIn(30))),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        IIC.Tests.WaitFor.Condition(() => window.Memory.ReadAcquireInt32(window.GetRing(0).Offset + DescriptorRing.ArmedOffset) == 1,
            "the receiver to arm its ring and park");
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        window.MarkDead(0);
        await receiver.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(start) < TimeSpan.FromSeconds(1), "death should wake the parked receiver at once");
        Assert.Equal(0, b.Waiter.ParkTimeouts);
    }

    [Fact]
    public void Torture_pattern_detects_loss_reordering_and_corruption()
    {
        var message = new byte[100];
        TorturePattern.Fill(message, 5);
        Assert.Null(TorturePattern.Check(message, 5, 100));
        Assert.Contains("got message 5", TorturePattern.Check(message, 6, 100), StringComparison.Ordinal);
        Assert.Contains("length 100, expected 99", TorturePattern.Check(message, 5, 99), StringComparison.Ordinal);
        message[50] ^= 1;
        Assert.Contains("corrupt at byte 48", TorturePattern.Check(message, 5, 100), StringComparison.Ordinal);
        message[50] ^= 1;
        message[99] ^= 1;
        Assert.Contains("corrupt at byte 99", TorturePattern.Check(message, 5, 100), StringComparison.Ordinal);
    }
}
