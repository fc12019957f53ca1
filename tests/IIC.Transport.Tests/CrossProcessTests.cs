using System.Diagnostics;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// This process against a child partition (IIC.TestHost "transport-echo" and friends) through an embedded
/// hypervisor: every message API on this side, each of the child's receive APIs on the other.
/// </summary>
public class CrossProcessTests
{
    private const int Ring = 1 << 20;
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Theory]
    [InlineData("receive-send")]
    [InlineData("send-and-receive")]
    [InlineData("poll")]
    [InlineData("async")]
    public async Task Every_message_API_echoes_across_processes(string childMode)
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", Ring, childMode);
        using (child)
        {
            using (channel)
            {
                await Task.Factory.StartNew(() => SynchronousApis(channel), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                    .WaitAsync(s_timeout);
                await AsynchronousApis(channel);
                await Streaming(channel).WaitAsync(s_timeout);
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    [Theory]
    [InlineData("receive-send")]
    [InlineData("poll")]
    [InlineData("async")]
    public async Task Large_messages_up_to_64_MiB_are_fragmented_and_reassembled_transparently(string childMode)
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", Ring, childMode);
        using (child)
        {
            using (channel)
            {
                var max = 64 << 20;
                var original = new byte[max];
                new Random(64).NextBytes(original);
                var received = new byte[max];
                int[] sizes = [channel.MaxClaimLength, channel.MaxClaimLength + 1, (3 * Ring) + 5, (16 << 20) - 3, max];
                foreach (var size in sizes)
                {
                    var message = original.AsMemory(0, size);
                    // Send/Receive: the echo of a message bigger than the ring.
                    await OnThread(() => channel.Send(message.Span));
                    var length = await OnThread(() => channel.Receive(received));
                    AssertSame(message.Span, received.AsSpan(0, length), "Receive", size);

                    // ReceiveAsync: fragments wait for the rest without a thread.
                    await OnThread(() => channel.Send(message.Span));
                    Array.Clear(received, 0, size);
                    length = await channel.ReceiveAsync(received).AsTask().WaitAsync(s_timeout);
                    AssertSame(message.Span, received.AsSpan(0, length), "ReceiveAsync", size);

                    // Poll: the handler gets the reassembled message in one span.
                    await OnThread(() => channel.Send(message.Span));
                    var checker = new Checksum();
                    var deadline = Stopwatch.GetTimestamp() + (long)(s_timeout.TotalSeconds * Stopwatch.Frequency);
                    while (channel.Poll(ref checker, 1) == 0)
                    {
                        Assert.True(Stopwatch.GetTimestamp() < deadline, $"no {size}-byte echo arrived for Poll");
                        await channel.WaitToReceiveAsync().AsTask().WaitAsync(s_timeout);
                    }
                    Assert.Equal(size, checker.Length);
                    Assert.Equal(Checksum.Of(message.Span), checker.Hash);
                }
            }
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task Stream_echo_with_CopyTo_and_async_reads_and_writes()
    {
        using var host = PartitionHost.Start();
        foreach (var mode in new[] { "stream-copy", "stream-async", "pipe" })
        {
            var (child, channel) = await host.StartChildAsync("transport-echo", 64 * 1024, mode);
            using (child)
            {
                var data = new byte[3_000_000];
                new Random(mode.Length).NextBytes(data);
                var stream = channel.AsStream();
                var echoed = new MemoryStream();
                // A reader task and a writer: the echo needs both directions at once (the rings are 64 KiB).
                var reader = Task.Run(async () =>
                {
                    var buffer = new byte[10_007];
                    while (echoed.Length < data.Length)
                    {
                        var read = echoed.Length % 2 == 0 ? await stream.ReadAsync(buffer) : stream.Read(buffer);
                        Assert.NotEqual(0, read);
                        echoed.Write(buffer, 0, read);
                    }
                });
                for (var offset = 0; offset < data.Length; offset += 100_000)
                {
                    var piece = data.AsMemory(offset, Math.Min(100_000, data.Length - offset));
                    if (offset % 200_000 == 0)
                    {
                        await stream.WriteAsync(piece);
                    }
                    else
                    {
                        await Task.Run(() => stream.Write(piece.Span));
                    }
                }
                await stream.FlushAsync();
                await reader.WaitAsync(s_timeout);
                Assert.True(data.AsSpan().SequenceEqual(echoed.ToArray()), $"{mode}: the echoed stream differs");
                await stream.DisposeAsync(); // disposes the channel: the child's read returns 0
                Assert.Equal("closed", child.ReadLine());
                child.AssertExit(0);
            }
        }
    }

    [Fact]
    public async Task Duplex_pipe_round_trip_across_processes()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", 64 * 1024, "stream-copy");
        using (child)
        {
            var pipe = channel.AsDuplexPipe();
            var data = new byte[1_000_000];
            new Random(5).NextBytes(data);
            var writer = Task.Run(async () =>
            {
                for (var offset = 0; offset < data.Length; offset += 30_000)
                {
                    await pipe.Output.WriteAsync(data.AsMemory(offset, Math.Min(30_000, data.Length - offset)));
                }
            });
            var echoed = new MemoryStream();
            while (echoed.Length < data.Length)
            {
                var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                foreach (var segment in result.Buffer)
                {
                    echoed.Write(segment.Span);
                }
                pipe.Input.AdvanceTo(result.Buffer.End);
                Assert.False(result.IsCompleted && echoed.Length < data.Length, "the pipe ended early");
            }
            await writer.WaitAsync(s_timeout);
            Assert.True(data.AsSpan().SequenceEqual(echoed.ToArray()));
            await pipe.Output.CompleteAsync();
            await pipe.Input.CompleteAsync();
            channel.Dispose();
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task Disposing_this_side_ends_the_childs_blocked_receive_and_later_use_is_ObjectDisposed()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", 64 * 1024, "receive-send");
        using (child)
        {
            channel.Send("ping"u8);
            var buffer = new byte[16];
            Assert.Equal(4, await OnThread(() => channel.Receive(buffer))); // the child is back in a blocking Receive
            channel.Dispose();
            Assert.Equal("closed", child.ReadLine()); // its Receive threw IicChannelClosedException
            child.AssertExit(0);
            Assert.Throws<ObjectDisposedException>(() => channel.Send("x"u8));
            Assert.Throws<ObjectDisposedException>(() => channel.Receive(buffer));
            Assert.Throws<ObjectDisposedException>(() => channel.TryReceive(buffer, out _));
        }
    }

    [Fact]
    public async Task The_peer_disposing_ends_a_blocked_receive_with_ChannelClosed_and_streams_read_zero()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-close-after-first", 64 * 1024);
        using (child)
        using (channel)
        {
            var buffer = new byte[64];
            var blocked = Task.Factory.StartNew(() => channel.Receive(buffer), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            channel.Send("bye"u8); // the child receives it, then disposes its end
            await Assert.ThrowsAsync<IicChannelClosedException>(() => blocked.WaitAsync(s_timeout));
            Assert.Equal("closed 3", child.ReadLine());
            Assert.Throws<IicChannelClosedException>(() => channel.Receive(buffer));
            Assert.Throws<IicChannelClosedException>(() => channel.TryReceive(buffer, out _));
            await Assert.ThrowsAsync<IicChannelClosedException>(async () => await channel.ReceiveAsync(buffer));
            Assert.Throws<IicChannelClosedException>(() => channel.Send("more"u8));
            Assert.Equal(0, channel.AsStream().Read(buffer));
            Assert.Equal(0, await channel.AsStream().ReadAsync(buffer));
            child.WriteLine("exit");
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task A_killed_peer_gives_PeerDeadException_within_a_second()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", 64 * 1024, "receive-send");
        using (child)
        using (channel)
        {
            var buffer = new byte[64];
            channel.Send("ping"u8);
            Assert.Equal(4, await OnThread(() => channel.Receive(buffer)));
            var blocked = Task.Factory.StartNew(() => channel.Receive(buffer), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var killedAt = Stopwatch.GetTimestamp();
            child.Process.Kill(); // SIGKILL: no Dispose, no goodbye
            await Assert.ThrowsAsync<PeerDeadException>(() => blocked.WaitAsync(s_timeout));
            var elapsed = Stopwatch.GetElapsedTime(killedAt);
            Assert.True(elapsed < TimeSpan.FromSeconds(2), $"the survivor learned of the death after {elapsed.TotalMilliseconds:0} ms");
            Assert.Throws<PeerDeadException>(() => channel.Send("x"u8));
            Assert.Throws<PeerDeadException>(() => channel.Receive(buffer));
            await Assert.ThrowsAsync<PeerDeadException>(async () => await channel.ReceiveAsync(buffer));
        }
    }

    [Fact]
    public async Task Back_pressure_a_fast_sender_blocks_on_a_slow_receiver_and_nothing_is_dropped()
    {
        const int Count = 20_000;
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-slow-receiver", 4096, Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using (child)
        using (channel)
        {
            var message = new byte[64];
            var sent = 0;
            while (true)
            {
                Pattern.Fill(message, sent);
                if (!channel.TrySend(message))
                {
                    break;
                }
                sent++;
                Assert.True(sent < 4096, "TrySend never reported a full 4 KiB ring");
            }
            Assert.True(sent > 10, $"only {sent} messages fit");
            Assert.False(channel.TrySend(message, TimeSpan.FromMilliseconds(20)), "TrySend with a timeout found room in a ring nobody drains");
            var stallsBefore = channel.GetStatistics().RingFullStalls;
            var progress = sent;
            var sender = Task.Factory.StartNew(() =>
            {
                var buffer = new byte[64];
                for (var i = progress; i < Count; i++)
                {
                    Pattern.Fill(buffer, i);
                    channel.Send(buffer);
                    Volatile.Write(ref progress, i + 1);
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            WaitFor.Condition(() => channel.GetStatistics().RingFullStalls > stallsBefore || sender.IsCompleted, "the sender to stall on the full ring");
            Assert.False(sender.IsCompleted, $"Send returned although the receiver reads nothing: {sender.Exception}");
            Assert.Equal(sent, Volatile.Read(ref progress));
            child.WriteLine("go");
            await sender.WaitAsync(s_timeout);
            Assert.Equal($"ok {Count}", child.ReadLine());
            child.AssertExit(0);
            Assert.True(channel.GetStatistics().RingFullStalls > stallsBefore);
            Assert.Equal(Count, channel.GetStatistics().MessagesSent);
        }
    }

    /// <summary>Send/Receive, TrySend/TryReceive (now and with a timeout), Send with a token, claims, both Polls.</summary>
    private static void SynchronousApis(IicChannel channel)
    {
        var message = new byte[4096];
        var received = new byte[4096];
        long sequence = 0;
        // Ping-pong with Send and Receive, sizes 8 .. 4 KiB.
        for (var i = 0; i < 2000; i++, sequence++)
        {
            var size = 8 + (i * 37 % 4089);
            Pattern.Fill(message.AsSpan(0, size), sequence);
            channel.Send(message.AsSpan(0, size));
            var length = channel.Receive(received);
            Assert.Null(Pattern.Check(received.AsSpan(0, length), sequence));
            Assert.Equal(size, length);
        }
        Assert.False(channel.TryReceive(received, out _), "TryReceive found a message nobody sent");
        // Request/reply with SendAndReceive, sizes 8 .. 4 KiB, with a token every other time.
        using (var cancellation = new CancellationTokenSource())
        {
            for (var i = 0; i < 2000; i++, sequence++)
            {
                var size = 8 + (i * 41 % 4089);
                Pattern.Fill(message.AsSpan(0, size), sequence);
                var length = i % 2 == 0
                    ? channel.SendAndReceive(message.AsSpan(0, size), received)
                    : channel.SendAndReceive(message.AsSpan(0, size), received, cancellation.Token);
                Assert.Null(Pattern.Check(received.AsSpan(0, length), sequence));
                Assert.Equal(size, length);
            }
        }
        Assert.False(channel.TryReceive(received, out _), "TryReceive found a message nobody sent");
        // TrySend / TryReceive with a timeout / TrySend with a timeout / Send with a token.
        for (var i = 0; i < 200; i++, sequence++)
        {
            Pattern.Fill(message.AsSpan(0, 64), sequence);
            var sentNow = (i % 3) switch
            {
                0 => channel.TrySend(message.AsSpan(0, 64)),
                1 => channel.TrySend(message.AsSpan(0, 64), TimeSpan.FromSeconds(10)),
                _ => SendWithToken(channel, message.AsSpan(0, 64)),
            };
            Assert.True(sentNow);
            Assert.True(channel.TryReceive(received, out var length, TimeSpan.FromSeconds(10)), "no echo within 10 s");
            Assert.Null(Pattern.Check(received.AsSpan(0, length), sequence));
        }
        // Claims: commit delivers, abort delivers nothing.
        for (var i = 0; i < 200; i++, sequence++)
        {
            Assert.True(channel.TryClaim(100, out var aborted));
            Pattern.Fill(aborted.Span, -1);
            aborted.Abort();
            Assert.True(channel.TryClaim(100, out var claim));
            Pattern.Fill(claim.Span, sequence);
            claim.Commit();
            var length = channel.Receive(received);
            Assert.Null(Pattern.Check(received.AsSpan(0, length), sequence));
        }
        // Poll with a static lambda and state, then with a struct handler.
        for (var i = 0; i < 200; i++, sequence++)
        {
            Pattern.Fill(message.AsSpan(0, 48), sequence);
            channel.Send(message.AsSpan(0, 48));
            var state = new PollState { Expected = sequence };
            var handled = 0;
            WaitFor.Condition(() => (handled = i % 2 == 0
                ? channel.Poll(static (span, s) => s.Problem = Pattern.Check(span, s.Expected) ?? (span.Length == 48 ? null : "wrong length"), state)
                : PollStruct(channel, state)) > 0, "an echo for Poll");
            Assert.Equal(1, handled);
            Assert.Null(state.Problem);
        }
    }

    private static int PollStruct(IicChannel channel, PollState state)
    {
        var handler = new CheckHandler(state);
        return channel.Poll(ref handler);
    }

    private static bool SendWithToken(IicChannel channel, ReadOnlySpan<byte> message)
    {
        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        channel.Send(message, cancellation.Token);
        return true;
    }

    private static async Task AsynchronousApis(IicChannel channel)
    {
        var message = new byte[256];
        var received = new byte[256];
        for (long sequence = 0; sequence < 500; sequence++)
        {
            Pattern.Fill(message, sequence);
            var pending = channel.ReceiveAsync(received); // often parks first: the echo is not there yet
            channel.Send(message);
            var length = await pending.AsTask().WaitAsync(s_timeout);
            Assert.Null(Pattern.Check(received.AsSpan(0, length), sequence));
        }
    }

    /// <summary>Many messages in flight: a sending thread and a receiving thread at once (SPSC per direction).</summary>
    private static async Task Streaming(IicChannel channel)
    {
        const int Count = 50_000;
        var receiver = Task.Factory.StartNew(() =>
        {
            var buffer = new byte[1024];
            for (long i = 0; i < Count; i++)
            {
                var length = channel.Receive(buffer);
                var problem = Pattern.Check(buffer.AsSpan(0, length), i);
                if (problem is not null)
                {
                    return problem;
                }
            }
            return null;
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await OnThread(() =>
        {
            var message = new byte[1024];
            for (long i = 0; i < Count; i++)
            {
                var size = 8 + (int)(i % 1000);
                Pattern.Fill(message.AsSpan(0, size), i);
                channel.Send(message.AsSpan(0, size));
            }
        });
        Assert.Null(await receiver);
    }

    private static void AssertSame(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string api, int size)
    {
        Assert.True(expected.Length == actual.Length, $"{api}: {size}-byte message came back as {actual.Length} bytes");
        Assert.True(expected.SequenceEqual(actual), $"{api}: {size}-byte message came back different");
    }

    private static Task OnThread(Action action) => Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(s_timeout);

    private static Task<T> OnThread<T>(Func<T> action) => Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(s_timeout);

    private sealed class PollState
    {
        public long Expected { get; init; }

        public string? Problem { get; set; } = "not handled";
    }

    private readonly struct CheckHandler(PollState state) : IMessageHandler
    {
        public void OnMessage(ReadOnlySpan<byte> message) => state.Problem = Pattern.Check(message, state.Expected) ?? (message.Length == 48 ? null : "wrong length");
    }

    /// <summary>FNV-1a over a message (a struct handler: no allocation).</summary>
    private struct Checksum : IMessageHandler
    {
        public ulong Hash { get; private set; }

        public int Length { get; private set; }

        public static ulong Of(ReadOnlySpan<byte> data)
        {
            var hash = 14695981039346656037UL;
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(data[..(data.Length & ~7)]);
            foreach (var word in words)
            {
                hash = (hash ^ word) * 1099511628211UL;
            }
            foreach (var b in data[(data.Length & ~7)..])
            {
                hash = (hash ^ b) * 1099511628211UL;
            }
            return hash;
        }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            Length = message.Length;
            Hash = Of(message);
        }
    }
}
