using System.Diagnostics;
using System.Xml.Linq;
using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>Tests that need no second process: cancellation, threads, allocation, bad inputs, disposal, docs.</summary>
public class InProcessTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private static readonly ChannelOptions s_small = new() { RingCapacity = 4096, Name = "in-process" };

    [Fact]
    public async Task ReceiveAsync_cancelled_while_parked_throws_promptly_and_the_channel_stays_usable()
    {
        var (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = WaitStrategy.Park });
        using (a)
        using (b)
        {
            var buffer = new byte[64];
            for (var round = 0; round < 3; round++)
            {
                using var cancellation = new CancellationTokenSource();
                var pending = b.ReceiveAsync(buffer, cancellation.Token).AsTask();
                Assert.False(pending.IsCompleted, "a receive with nothing sent completed");
                var cancelledAt = Stopwatch.GetTimestamp();
                await cancellation.CancelAsync();
                var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(s_timeout));
                Assert.Equal(cancellation.Token, error.CancellationToken);
                var elapsed = Stopwatch.GetElapsedTime(cancelledAt);
                // Promptly: the wait itself is unbounded; 2 s leaves room for a loaded 2-core machine (typically < 1 ms).
                Assert.True(elapsed < TimeSpan.FromSeconds(2), $"cancellation took {elapsed.TotalMilliseconds:0} ms");

                // Still usable: a message sent now is received, by the async and the blocking forms.
                var next = b.ReceiveAsync(buffer).AsTask();
                a.Send("after"u8);
                Assert.Equal(5, await next.WaitAsync(s_timeout));
                a.Send("again"u8);
                Assert.Equal(5, b.Receive(buffer));
            }
            // A token cancelled before the call.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await b.ReceiveAsync(buffer, new CancellationToken(true)));
            a.Send("ok"u8);
            Assert.Equal(2, await b.ReceiveAsync(buffer).AsTask().WaitAsync(s_timeout));
        }
    }

    [Fact]
    public async Task Blocking_receive_with_a_token_is_cancellable()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            using var cancellation = new CancellationTokenSource();
            var buffer = new byte[16];
            var blocked = Task.Factory.StartNew(() => b.Receive(buffer, cancellation.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await cancellation.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked.WaitAsync(s_timeout));
            a.Send("x"u8);
            Assert.Equal(1, b.Receive(buffer));
        }
    }

    [Fact]
    public void Claims_out_of_range_throw_and_leave_the_channel_usable()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            var tooBig = Assert.Throws<ArgumentOutOfRangeException>(() => a.TryClaim(a.MaxClaimLength + 1, out _));
            Assert.Contains(a.MaxClaimLength.ToString(System.Globalization.CultureInfo.InvariantCulture), tooBig.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => a.TryClaim(-1, out _));
            Assert.Throws<ArgumentOutOfRangeException>(() => a.TryClaim(int.MinValue, out _));
            AssertUsable(a, b);

            // The largest claim works.
            Assert.True(a.TryClaim(a.MaxClaimLength, out var full));
            full.Span.Fill(7);
            full.Commit();
            var buffer = new byte[a.MaxClaimLength];
            Assert.Equal(a.MaxClaimLength, b.Receive(buffer));
            Assert.All(buffer, x => Assert.Equal(7, x));
        }
    }

    [Fact]
    public void Commit_or_abort_twice_and_a_second_open_claim_are_InvalidOperation()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            Assert.True(a.TryClaim(3, out var claim));
            "abc"u8.CopyTo(claim.Span);
            Assert.Throws<InvalidOperationException>(() => a.TryClaim(3, out _)); // one open claim at a time
            claim.Commit();
            var error = Finish(claim, commit: true);
            Assert.NotNull(error);
            Assert.Contains("already committed", error.Message, StringComparison.Ordinal);
            Assert.NotNull(Finish(claim, commit: false));
            Assert.Throws<InvalidOperationException>(() => default(ChannelClaim).Commit());
            var buffer = new byte[8];
            Assert.Equal(3, b.Receive(buffer));
            Assert.Equal("abc"u8.ToArray(), buffer[..3]);
            Assert.False(b.TryReceive(buffer, out _), "a double commit published a second message");

            Assert.True(a.TryClaim(3, out var aborted));
            aborted.Abort();
            Assert.NotNull(Finish(aborted, commit: true));
            Assert.False(b.TryReceive(buffer, out _), "an aborted claim was delivered");
            AssertUsable(a, b);
        }

        // A finished claim throws whether the same variable or a copy of it is used again.
        static InvalidOperationException? Finish(ChannelClaim claim, bool commit)
        {
            try
            {
                if (commit)
                {
                    claim.Commit();
                }
                else
                {
                    claim.Abort();
                }
                return null;
            }
            catch (InvalidOperationException e)
            {
                return e;
            }
        }
    }

    [Fact]
    public void Commit_twice_through_the_same_claim_variable_throws()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            Assert.True(a.TryClaim(1, out var claim));
            claim.Span[0] = 42;
            claim.Commit();
            InvalidOperationException? error = null;
            try
            {
                claim.Commit();
            }
            catch (InvalidOperationException e)
            {
                error = e;
            }
            Assert.NotNull(error);
            var buffer = new byte[4];
            Assert.Equal(1, b.Receive(buffer));
            Assert.False(b.TryReceive(buffer, out _));
            AssertUsable(a, b);
        }
    }

    [Theory]
    [InlineData(100)]
    [InlineData(50_000)] // fragmented: larger than a record and than the 4 KiB ring
    public async Task A_too_small_buffer_states_the_size_needed_and_the_message_stays_unread(int size)
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            var message = new byte[size];
            new Random(size).NextBytes(message);
            var send = Task.Factory.StartNew(() => a.Send(message), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var small = new byte[size - 1];
            await b.WaitToReceiveAsync().AsTask().WaitAsync(s_timeout);
            var error = Assert.Throws<MessageTooLargeException>(() => b.Receive(small));
            Assert.Equal(size, error.NeededLength);
            Assert.Contains(size.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.Throws<MessageTooLargeException>(() => b.TryReceive(small, out _));
            await Assert.ThrowsAsync<MessageTooLargeException>(async () => await b.ReceiveAsync(small));
            var big = new byte[size + 10];
            var length = await Task.Factory.StartNew(() => b.Receive(big), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(s_timeout);
            Assert.Equal(size, length);
            Assert.True(message.AsSpan().SequenceEqual(big.AsSpan(0, length)));
            await send.WaitAsync(s_timeout);
            AssertUsable(a, b);
        }
    }

    [Fact]
    public void TrySend_larger_than_a_record_throws_a_clear_exception_and_Send_fragments_it()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            var message = new byte[a.MaxClaimLength + 1];
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => a.TrySend(message));
            Assert.Contains("use Send", error.Message, StringComparison.Ordinal);
            Assert.Equal(0, a.GetStatistics().MessagesSent);
            AssertUsable(a, b);
            Assert.True(a.TrySend(new byte[a.MaxClaimLength]));
            Assert.Equal(a.MaxClaimLength, b.Receive(new byte[a.MaxClaimLength]));
            a.Send(message);
            Assert.Equal(message.Length, b.Receive(new byte[message.Length]));
        }
    }

    [Fact]
    public void Empty_messages_travel_through_every_API()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            var buffer = new byte[8];
            a.Send([]);
            Assert.True(b.TryReceive(buffer, out var length, s_timeout));
            Assert.Equal(0, length);
            Assert.True(a.TryClaim(0, out var claim));
            claim.Commit();
            Assert.Equal(1, b.Poll(static (span, _) => Assert.Equal(0, span.Length), 0));
            AssertUsable(a, b);
        }
    }

    [Fact]
    public async Task Use_after_dispose_is_ObjectDisposed_everywhere_and_Dispose_is_idempotent()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        var stream = a.AsStream();
        a.Dispose();
        a.Dispose();
        await a.DisposeAsync();
        Assert.True(a.IsDisposed);
        var buffer = new byte[16];
        Assert.Throws<ObjectDisposedException>(() => a.Send(buffer));
        Assert.Throws<ObjectDisposedException>(() => a.Send(buffer, CancellationToken.None));
        Assert.Throws<ObjectDisposedException>(() => a.TrySend(buffer));
        Assert.Throws<ObjectDisposedException>(() => a.TrySend(buffer, TimeSpan.FromSeconds(1)));
        Assert.Throws<ObjectDisposedException>(() => a.TryClaim(4, out _));
        Assert.Throws<ObjectDisposedException>(() => a.Receive(buffer));
        Assert.Throws<ObjectDisposedException>(() => a.TryReceive(buffer, out _));
        Assert.Throws<ObjectDisposedException>(() => a.TryReceive(buffer, out _, TimeSpan.FromSeconds(1)));
        Assert.Throws<ObjectDisposedException>(() => a.Poll(static (_, _) => { }, 0));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await a.ReceiveAsync(buffer));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await a.WaitToReceiveAsync());
        Assert.Throws<ObjectDisposedException>(() => stream.Read(buffer));
        Assert.Throws<ObjectDisposedException>(() => stream.Write(buffer));
        Assert.False(stream.CanRead);

        // The peer sees the end, not an error about our disposal.
        Assert.Throws<IicChannelClosedException>(() => b.Receive(buffer));
        Assert.Equal(0, b.AsStream().Read(buffer));
        b.Dispose();
    }

    [Fact]
    public async Task Disposing_while_a_ReceiveAsync_waits_ends_it()
    {
        var (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = WaitStrategy.Park });
        using (a)
        {
            var pending = b.ReceiveAsync(new byte[16]).AsTask();
            b.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(s_timeout));
        }
    }

    [Fact]
    public async Task A_ReceiveAsync_racing_Dispose_on_another_thread_always_ends()
    {
        // Every interleaving of a starting async wait and Dispose must end the wait (ObjectDisposedException, thrown at
        // once or through the task): a completion that landed between the wait's start and its reset was once lost.
        var buffer = new byte[16];
        using var go = new Barrier(2);
        for (var i = 0; i < 1000; i++)
        {
            var (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = WaitStrategy.Park });
            using (a)
            {
                var disposer = Task.Factory.StartNew(() =>
                {
                    go.SignalAndWait();
                    b.Dispose();
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                go.SignalAndWait();
                Task<int>? pending = null;
                try
                {
                    pending = b.ReceiveAsync(buffer).AsTask();
                }
                catch (ObjectDisposedException)
                {
                }
                await disposer.WaitAsync(s_timeout);
                if (pending is not null)
                {
                    await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(s_timeout));
                }
            }
        }
    }

    [Fact]
    public async Task Two_concurrent_ReceiveAsync_calls_take_turns_by_default_and_are_refused_on_a_SingleReader_channel()
    {
        var (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = WaitStrategy.Park });
        using (a)
        using (b)
        {
            var first = b.ReceiveAsync(new byte[16]).AsTask();
            var second = b.ReceiveAsync(new byte[16]).AsTask();
            a.Send("1"u8);
            a.Send("22"u8);
            int[] lengths = [await first.WaitAsync(s_timeout), await second.WaitAsync(s_timeout)];
            Assert.Equal([1, 2], lengths.Order());
        }

        (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = WaitStrategy.Park, SingleReader = true });
        using (a)
        using (b)
        {
            var first = b.ReceiveAsync(new byte[16]).AsTask();
            await Assert.ThrowsAsync<InvalidOperationException>(async () => await b.ReceiveAsync(new byte[16]));
            a.Send("1"u8);
            Assert.Equal(1, await first.WaitAsync(s_timeout));
        }
    }

    [Fact]
    public void The_XML_docs_state_the_threading_model_of_System_Threading_Channels()
    {
        var path = Path.ChangeExtension(typeof(IicChannel).Assembly.Location, ".xml");
        Assert.True(File.Exists(path), $"no XML documentation next to the assembly: {path}");
        var docs = XDocument.Load(path);
        var member = docs.Descendants("member").Single(m => (string?)m.Attribute("name") == "T:IIC.Transport.IicChannel");
        Assert.Contains("by default any number of threads may send and any number", member.Value, StringComparison.Ordinal);
        Assert.Contains("outlives the", member.Value, StringComparison.Ordinal);
        Assert.Contains("P:IIC.Transport.ChannelOptions.SingleWriter", member.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Wait_strategies_are_selectable_per_channel()
    {
        foreach (var strategy in new[] { WaitStrategy.BusySpin, WaitStrategy.Park, WaitStrategy.Adaptive, WaitStrategy.SpinThenPark(TimeSpan.FromMicroseconds(50)), WaitStrategy.CreateAdaptive(TimeSpan.FromMicroseconds(300), TimeSpan.FromMilliseconds(20)) })
        {
            var (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = strategy });
            using (a)
            using (b)
            {
                Assert.Same(strategy, b.GetStatistics().Wait.Strategy);
                AssertUsable(a, b);
            }
        }
    }

    private static void AssertUsable(IicChannel a, IicChannel b)
    {
        var buffer = new byte[16];
        a.Send("usable"u8);
        Assert.Equal(6, b.Receive(buffer));
        Assert.Equal("usable"u8.ToArray(), buffer[..6]);
        b.Send("back"u8);
        Assert.True(a.TryReceive(buffer, out var length, s_timeout));
        Assert.Equal(4, length);
    }
}

/// <summary>Runs alone (no other test in parallel): it counts the process's threads.</summary>
[CollectionDefinition(nameof(IsolatedTests), DisableParallelization = true)]
public sealed class IsolatedTestsDefinition;

/// <summary>Thread counts and allocation: measured with nothing else running.</summary>
[Collection(nameof(IsolatedTests))]
public class IsolatedTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private static readonly ChannelOptions s_small = new() { RingCapacity = 4096, Name = "isolated" };

    [Fact]
    public void Zero_allocation_per_message_in_steady_state()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024, Name = "zero-alloc" });
        using (a)
        using (b)
        {
            var message = new byte[100];
            var buffer = new byte[256];
            var counter = new Counter();
            void Round()
            {
                a.Send(message);
                b.Receive(buffer);
                a.TrySend(message);
                b.TryReceive(buffer, out _);
                if (a.TryClaim(64, out var claim))
                {
                    claim.Span[0] = 1;
                    claim.Commit();
                }
                if (a.TryClaim(64, out var dropped))
                {
                    dropped.Abort();
                }
                var handler = new CountingHandler();
                b.Poll(ref handler);
                a.Send(message);
                b.Poll(static (span, state) => state.Bytes += span.Length, counter);
                a.TrySend(message, TimeSpan.FromSeconds(1));
                b.TryReceive(buffer, out _, TimeSpan.FromSeconds(1));
                // And the other direction.
                b.Send(message);
                a.Receive(buffer);
            }
            for (var i = 0; i < 20_000; i++)
            {
                Round();
            }
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++)
            {
                Round();
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, allocated);
            Assert.Equal(30_000L * 100, counter.Bytes);
            Assert.Equal(30_000L * 5, b.GetStatistics().MessagesReceived);
        }
    }

    [Fact]
    public async Task Pending_ReceiveAsync_calls_hold_no_thread_each()
    {
        const int Count = 200;
        var options = s_small with { WaitStrategy = WaitStrategy.Park };
        var pairs = new List<(IicChannel A, IicChannel B)>();
        try
        {
            for (var i = 0; i < Count; i++)
            {
                pairs.Add(IicChannel.CreatePair(options));
            }
            var buffers = new byte[Count][];
            var pending = new Task<int>[Count];
            using var before = Process.GetCurrentProcess();
            var threadsBefore = before.Threads.Count;
            var poolBefore = ThreadPool.ThreadCount;
            for (var i = 0; i < Count; i++)
            {
                buffers[i] = new byte[16];
                pending[i] = pairs[i].B.ReceiveAsync(buffers[i]).AsTask();
            }
            Assert.All(pending, p => Assert.False(p.IsCompleted));
            using var process = Process.GetCurrentProcess();
            var threadsParked = process.Threads.Count;
            // 200 parked receives: a couple of dispatcher threads (futex_waitv, 127 channels each), not 200.
            Assert.True(threadsParked - threadsBefore < 20, $"{Count} parked ReceiveAsync added {threadsParked - threadsBefore} threads (before {threadsBefore}, now {threadsParked})");
            Assert.True(ThreadPool.ThreadCount - poolBefore < 20, $"the thread pool grew from {poolBefore} to {ThreadPool.ThreadCount} threads");
            for (var i = 0; i < Count; i++)
            {
                pairs[i].A.Send(BitConverter.GetBytes(i));
            }
            var lengths = await Task.WhenAll(pending).WaitAsync(s_timeout);
            for (var i = 0; i < Count; i++)
            {
                Assert.Equal(4, lengths[i]);
                Assert.Equal(i, BitConverter.ToInt32(buffers[i]));
            }
        }
        finally
        {
            foreach (var (a, b) in pairs)
            {
                a.Dispose();
                b.Dispose();
            }
        }
    }

    private sealed class Counter
    {
        public long Bytes { get; set; }
    }

    private struct CountingHandler : IMessageHandler
    {
        public int Count { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message) => Count++;
    }
}
