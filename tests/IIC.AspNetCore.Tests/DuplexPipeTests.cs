using System.Buffers;
using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// IICFast's one duplex pipe (IicDuplexPipe: AsDuplexPipe, Kestrel connections, the HTTP client's streams) on a real
/// channel pair: records cut at MaxClaimLength, back pressure that pauses and resumes the receive thread, the ends
/// (close, cancellation, Dispose from other threads), the receive thread's lifecycle, and no allocation per message.
/// The peer's death through the same pipe is LifecycleTests' killed gRPC server.
/// </summary>
[Collection(nameof(ConnectionPumpTests))] // allocation and thread measurements: not next to other tests
public class DuplexPipeTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    private static ChannelOptions SmallRing(WaitStrategy? wait = null) => ChannelOptions.Default with
    {
        RingCapacity = 64 * 1024,
        WaitStrategy = wait ?? WaitStrategy.Park,
    };

    [Fact]
    public async Task Bytes_cross_in_records_of_MaxClaimLength_and_a_large_write_arrives_intact()
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            var a = first.AsDuplexPipe();
            // A small input threshold: with nobody reading, the receive thread pauses at 64 KiB and the ring fills (with
            // the default 1 MiB the receive thread may drain the whole write into the pipe before the ring ever fills).
            var b = second.AsDuplexPipe(IicPipeOptions.Default with { InputPauseThreshold = 64 * 1024, InputResumeThreshold = 32 * 1024 });
            var chunk = first.MaxClaimLength;

            // 3.5 records in one flush into an empty ring: four records, none above the claim size (so never fragmented).
            var exact = RandomBytes(chunk * 7 / 2, seed: 1);
            await a.Output.WriteAsync(exact);
            Assert.Equal(exact, await ReadExactlyAsync(b.Input, exact.Length));
            Assert.Equal(4, first.GetStatistics().MessagesSent);

            // 1 MiB, 16 x the ring: the writer waits for room, the reader drains as it goes.
            var large = RandomBytes(1 << 20, seed: 2);
            var writing = Task.Run(async () => await a.Output.WriteAsync(large));
            WaitFor.Condition(() => first.GetStatistics().RingFullStalls > 0, "a 1 MiB write through a 64 KiB ring, nobody reading, waits for room", s_timeout);
            Assert.Equal(large, await ReadExactlyAsync(b.Input, large.Length));
            await writing.WaitAsync(s_timeout);
        }
    }

    [Fact]
    public async Task Back_pressure_pauses_the_receive_thread_at_the_threshold_and_resumes_it_when_the_reader_consumes()
    {
        var options = IicPipeOptions.Default with { InputPauseThreshold = 64 * 1024, InputResumeThreshold = 32 * 1024 };
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            var b = second.AsDuplexPipe(options);
            var payload = RandomBytes(4 << 20, seed: 3);
            var sending = Task.Factory.StartNew(() => first.AsStream().Write(payload), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

            // Nobody reads: the pipe fills to its threshold, the receive thread pauses, the ring fills, the sender waits.
            WaitFor.Condition(() => first.GetStatistics().RingFullStalls > 0 && Buffered(b.Input) >= options.InputPauseThreshold,
                "the receive thread paused at the threshold and the sender waiting on the full ring", s_timeout);
            Assert.False(sending.IsCompleted, "the sender finished although nobody read");
            // At most the threshold plus what one poll (64 records, while the sender refills the ring) took before it
            // flushed: about 1 MiB of the 4 MiB sent; the rest waits in the sender.
            Assert.InRange(Buffered(b.Input), options.InputPauseThreshold, options.InputPauseThreshold + (64 * first.MaxClaimLength));

            // Reading resumes the thread; everything arrives in order and the sender completes.
            Assert.Equal(payload, await ReadExactlyAsync(b.Input, payload.Length));
            await sending.WaitAsync(s_timeout);
        }
    }

    [Fact]
    public async Task The_peer_closing_completes_the_reader_after_everything_it_sent()
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (second)
        {
            var b = second.AsDuplexPipe();
            var payload = RandomBytes(100_000, seed: 4);
            first.AsStream().Write(payload);
            first.Dispose();
            Assert.Equal(payload, await ReadExactlyAsync(b.Input, payload.Length));
            var end = await b.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
            Assert.True(end.IsCompleted && end.Buffer.IsEmpty, "the reader should see the end after the last byte");
            Assert.True(((IicDuplexPipe)b).ReceiveThread.Join(s_timeout), "the receive thread should exit when the peer closed");
        }
    }

    [Fact]
    public async Task A_cancelled_read_throws_and_the_pipe_keeps_working()
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            var b = second.AsDuplexPipe();
            using var cancel = new CancellationTokenSource();
            var read = b.Input.ReadAsync(cancel.Token).AsTask();
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(s_timeout));

            var stream = new DuplexPipeStream((IicDuplexPipe)first.AsDuplexPipe());
            using var cancelStream = new CancellationTokenSource();
            var streamRead = stream.ReadAsync(new byte[16], cancelStream.Token).AsTask();
            cancelStream.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => streamRead.WaitAsync(s_timeout));

            await stream.WriteAsync("after"u8.ToArray());
            Assert.Equal("after"u8.ToArray(), await ReadExactlyAsync(b.Input, 5));
            b.Output.Write("back"u8);
            await b.Output.FlushAsync();
            var back = new byte[4];
            await stream.ReadExactlyAsync(back).AsTask().WaitAsync(s_timeout);
            Assert.Equal("back"u8.ToArray(), back);
        }
    }

    [Fact]
    public async Task Dispose_racing_reads_writes_and_abort_on_other_threads_ends_everything_without_a_crash()
    {
        for (var round = 0; round < 20; round++)
        {
            var (first, second) = IicChannel.CreatePair(SmallRing());
            var a = new IicDuplexPipe(first).Start();
            var b = new IicDuplexPipe(second).Start();
            using var stop = new CancellationTokenSource();
            var writer = Task.Run(async () =>
            {
                var data = new byte[3000];
                while (!stop.IsCancellationRequested)
                {
                    var result = await a.Output.WriteAsync(data);
                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            });
            var reader = Task.Run(async () =>
            {
                while (true)
                {
                    var result = await b.Input.ReadAsync();
                    b.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            });
            WaitFor.Condition(() => second.GetStatistics().BytesReceived > 10_000, "traffic", s_timeout);
            // The channel closed under the inline sender, and an abort or a close under the receive thread, at once.
            var endings = new[]
            {
                Task.Run(first.Dispose),
                Task.Run(round % 2 == 0 ? b.Abort : second.Dispose),
            };
            await Task.WhenAll(endings).WaitAsync(s_timeout);
            stop.Cancel();
            // Each side's tasks end, with a clean end or the documented exceptions, never hang.
            await IgnoreEndingExceptions(writer).WaitAsync(s_timeout);
            await IgnoreEndingExceptions(reader).WaitAsync(s_timeout);
            await a.DisposeAsync().AsTask().WaitAsync(s_timeout);
            await b.DisposeAsync().AsTask().WaitAsync(s_timeout);
            Assert.True(a.ReceiveThread.Join(s_timeout) && b.ReceiveThread.Join(s_timeout), "both receive threads exit");
            second.Dispose();
        }
    }

    [Fact]
    public void An_idle_pipe_parks_its_receive_thread_and_closing_the_channel_stops_it()
    {
        // A 100 ms park timeout, so that parks that time out show the idle thread asleep (the default parks until rung,
        // with no timeout to count; Dispose wakes it either way).
        var (first, second) = IicChannel.CreatePair(SmallRing(WaitStrategy.CreateAdaptive(parkTimeout: TimeSpan.FromMilliseconds(100))));
        using (first)
        {
            var b = (IicDuplexPipe)second.AsDuplexPipe();
            first.Send(new byte[100]);
            WaitFor.Condition(() => second.GetStatistics().MessagesReceived == 1, "the message", s_timeout);
            // Idle: the adaptive waiter stops spinning and sleeps on the futex; parks that time out are real sleep.
            var before = second.GetStatistics().Wait.ParkTimeouts;
            WaitFor.Condition(() => second.GetStatistics().Wait.ParkTimeouts >= before + 2, "the idle receive thread parked", s_timeout);
            Assert.True(b.ReceiveThread.IsAlive);
            second.Dispose();
            Assert.True(b.ReceiveThread.Join(s_timeout), "disposing the channel should stop its receive thread");
        }
    }

    [Fact]
    public async Task A_Kestrel_connection_stops_its_receive_thread_when_disposed()
    {
        var (client, serverSide) = IicChannel.CreatePair(SmallRing());
        using (client)
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("lifecycle"), IicPipeOptions.Default);
            connection.Start();
            var thread = connection.Pipe.ReceiveThread;
            Assert.True(thread.IsAlive);
            await connection.DisposeAsync().AsTask().WaitAsync(s_timeout);
            Assert.True(thread.Join(s_timeout), "the receive thread should exit with the connection");
            Assert.True(serverSide.IsDisposed);
        }
    }

    [Fact]
    public async Task Steady_state_receiving_allocates_nothing_per_message()
    {
        var (first, second) = IicChannel.CreatePair(ChannelOptions.Default with { WaitStrategy = WaitStrategy.Park });
        using (first)
        using (second)
        {
            // Inline scheduling: the reader's continuation runs on the receive thread (no thread-pool work item per wake).
            var b = second.AsDuplexPipe(IicPipeOptions.Default with { ApplicationScheduler = PipeScheduler.Inline });
            var message = new byte[256];
            const int Warmup = 5000;
            const int Count = 20_000;
            long allocatedBefore = 0;
            var consumer = Task.Run(async () =>
            {
                long total = 0;
                while (total < (long)(Warmup + Count) * message.Length)
                {
                    var result = await b.Input.ReadAsync();
                    total += result.Buffer.Length;
                    b.Input.AdvanceTo(result.Buffer.End);
                    if (total == (long)Warmup * message.Length)
                    {
                        Volatile.Write(ref allocatedBefore, GC.GetTotalAllocatedBytes(precise: true));
                    }
                }
                return GC.GetTotalAllocatedBytes(precise: true);
            });
            for (var i = 0; i < Warmup + Count; i++)
            {
                if (i == Warmup)
                {
                    // Let the consumer catch up so it sees exactly the warm-up total once.
                    WaitFor.Condition(() => Volatile.Read(ref allocatedBefore) != 0, "the warm-up consumed", s_timeout);
                }
                first.Send(message);
            }
            var allocatedAfter = await consumer.WaitAsync(s_timeout);
            var perMessage = (double)(allocatedAfter - Volatile.Read(ref allocatedBefore)) / Count;
            // Whole process (test runner included). One object per message would be >= 24 B.
            Assert.True(perMessage < 8, $"{perMessage:0.0} B allocated per received message");
        }
    }

    [Fact]
    public void Options_out_of_range_are_refused_with_the_fix_before_anything_starts()
    {
        var (first, second) = IicChannel.CreatePair(SmallRing());
        using (first)
        using (second)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => second.AsDuplexPipe(IicPipeOptions.Default with { InputResumeThreshold = 2 << 20 }));
            Assert.Contains("InputPauseThreshold", e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => second.AsDuplexPipe(IicPipeOptions.Default with { MinimumSegmentSize = 0 }));
            Assert.Throws<ArgumentOutOfRangeException>(() => second.AsDuplexPipe(IicPipeOptions.Default with { OutputPauseThreshold = -1 }));
            var pipe = second.AsDuplexPipe();
            Assert.Same(pipe, second.AsDuplexPipe());
            Assert.Throws<InvalidOperationException>(() => second.AsDuplexPipe(IicPipeOptions.Default with { ApplicationScheduler = PipeScheduler.Inline }));
        }
    }

    private static async Task IgnoreEndingExceptions(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception e) when (e is ObjectDisposedException or IicChannelClosedException or InvalidOperationException or OperationCanceledException)
        {
            // the documented ways a pipe ends under a concurrent Dispose or Abort
        }
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int length)
    {
        var result = new byte[length];
        var filled = 0;
        while (filled < length)
        {
            var read = await reader.ReadAsync().AsTask().WaitAsync(s_timeout);
            var take = (int)Math.Min(length - filled, read.Buffer.Length);
            read.Buffer.Slice(0, take).CopyTo(result.AsSpan(filled));
            reader.AdvanceTo(read.Buffer.GetPosition(take));
            filled += take;
            Assert.False(read.IsCompleted && filled < length, $"the pipe ended after {filled} of {length} bytes");
        }
        return result;
    }

    /// <summary>What the pipe holds unread now, without consuming it.</summary>
    private static long Buffered(PipeReader reader)
    {
        if (!reader.TryRead(out var result))
        {
            return 0;
        }
        var length = result.Buffer.Length;
        reader.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
        return length;
    }
}
