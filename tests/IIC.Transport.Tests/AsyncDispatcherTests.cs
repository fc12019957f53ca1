using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// The interrupt dispatcher behind ReceiveAsync: where continuations run (inline when opted in, the pool otherwise),
/// polling under continuous traffic, parking when traffic stops, cancellation and Dispose while it polls, many receivers.
/// Real memfd windows and futexes; the assertions are about threads and counters, never about time.
/// </summary>
public class AsyncDispatcherTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);
    private static readonly ChannelOptions s_small = new() { RingCapacity = 4096, Name = "dispatcher" };

    /// <summary>Where an awaited receive's continuation ran.</summary>
    private readonly record struct Observed(int Length, bool OnDispatcher, bool OnPool);

    /// <summary>
    /// Awaits <paramref name="receive"/>, which is still pending: the continuation is registered before this returns, so
    /// it runs wherever the completer puts it (the caller sends only after that).
    /// </summary>
    private static async Task<Observed> ObserveAsync(ValueTask<int> receive)
    {
        var length = await receive.ConfigureAwait(false);
        return new Observed(length, InterruptDispatcher.OnDispatcherThread, Thread.CurrentThread.IsThreadPoolThread);
    }

    private static async Task<(int Async, InterruptDispatcher Dispatcher)> PingRoundsAsync(IicChannel sender, IicChannel receiver, int rounds, bool expectInline)
    {
        var buffer = new byte[64];
        for (var i = 0; i < rounds; i++)
        {
            var receive = receiver.ReceiveAsync(buffer);
            Assert.False(receive.IsCompleted, "a receive completed before anything was sent");
            var observed = ObserveAsync(receive);
            sender.Send("ping"u8);
            var result = await observed.WaitAsync(s_timeout).ConfigureAwait(false);
            Assert.Equal(4, result.Length);
            if (expectInline)
            {
                Assert.True(result.OnDispatcher, $"round {i}: an opted-in continuation ran off the dispatcher thread");
                Assert.False(result.OnPool, $"round {i}: an opted-in continuation took a pool hop");
            }
            else
            {
                Assert.False(result.OnDispatcher, $"round {i}: a user continuation ran on the dispatcher thread without opting in");
                Assert.True(result.OnPool, $"round {i}: a default continuation did not go to the thread pool");
            }
        }
        return (rounds, receiver.AsyncReceive.Dispatcher!);
    }

    [Fact]
    public async Task Opted_in_receives_under_continuous_traffic_complete_on_the_dispatcher_without_a_pool_hop()
    {
        var (a, b) = IicChannel.CreatePair(s_small with { UnsafePreferInlineCompletions = true });
        using (a)
        using (b)
        {
            await PingRoundsAsync(a, b, 50, expectInline: true);
            var dispatcher = b.AsyncReceive.Dispatcher!;
            var polledBefore = dispatcher.PolledCompletions;
            await PingRoundsAsync(a, b, 2000, expectInline: true);
            // Back-to-back traffic is caught by the dispatcher's polling at least once in 2000 rounds, even on a loaded box.
            Assert.True(dispatcher.PolledCompletions > polledBefore, "the dispatcher never polled under continuous traffic");
        }
    }

    [Fact]
    public async Task Default_receives_never_run_user_continuations_on_the_dispatcher()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            await PingRoundsAsync(a, b, 200, expectInline: false);
        }
    }

    [Fact]
    public async Task The_dispatcher_parks_when_traffic_stops_and_a_parked_receive_still_completes()
    {
        var (a, b) = IicChannel.CreatePair(s_small with { UnsafePreferInlineCompletions = true });
        using (a)
        using (b)
        {
            var (_, dispatcher) = await PingRoundsAsync(a, b, 500, expectInline: true);
            var buffer = new byte[64];
            var pending = b.ReceiveAsync(buffer);
            Assert.False(pending.IsCompleted);
            // Counted after the receive is registered, and the park must be one that armed this receive (its block's sleep
            // announced): a park without it (the dispatcher idle after the rounds, on its control word alone, or one that
            // began before the registration) satisfied the old wait while the dispatcher, poked by the registration, was
            // about to poll, and the message then completed by polling (seen once in CI).
            var parksBefore = dispatcher.Parks;
            // Nothing is sent: the learned poll budget (at most 1 ms) runs out and the dispatcher sleeps in futex_waitv.
            await WaitUntilAsync(() => dispatcher.State == DispatcherState.Parked && dispatcher.Parks > parksBefore && b.Endpoint.ReceivePage.SleepAnnounced,
                "the dispatcher never parked with the receive armed after traffic stopped");
            var parkedBefore = dispatcher.ParkedCompletions;
            a.Send("late"u8);
            Assert.Equal(4, await pending.AsTask().WaitAsync(s_timeout));
            Assert.True(dispatcher.ParkedCompletions > parkedBefore, "the receive after the park was not completed by a wake-up");
        }
    }

    [Fact]
    public async Task Cancelling_and_disposing_while_the_dispatcher_polls_end_the_receive_and_keep_the_others_going()
    {
        // BusySpin lets the dispatcher poll for its full 1 ms ceiling, so the cancels and disposes land while it polls.
        var options = s_small with { WaitStrategy = WaitStrategy.BusySpin, UnsafePreferInlineCompletions = true };
        var (a, b) = IicChannel.CreatePair(options);
        var (c, d) = IicChannel.CreatePair(options);
        using (a)
        using (c)
        {
            var buffer = new byte[64];
            for (var round = 0; round < 50; round++)
            {
                await PingRoundsAsync(a, b, 5, expectInline: true);
                using var cancellation = new CancellationTokenSource();
                var cancelled = b.ReceiveAsync(buffer, cancellation.Token).AsTask();
                await cancellation.CancelAsync();
                var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(s_timeout));
                Assert.Equal(cancellation.Token, error.CancellationToken);
            }
            // A receive pending on d while b's channel is disposed mid-poll: b's receive ends, d's still completes.
            var other = d.ReceiveAsync(new byte[64]).AsTask();
            var doomed = b.ReceiveAsync(buffer).AsTask();
            b.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => doomed.WaitAsync(s_timeout));
            c.Send("alive"u8);
            Assert.Equal(5, await other.WaitAsync(s_timeout));
            // The peer of a disposed channel learns it closed (every message sent before was received).
            await Assert.ThrowsAsync<IicChannelClosedException>(async () => await a.ReceiveAsync(buffer).AsTask().WaitAsync(s_timeout));
            d.Dispose();
        }
    }

    [Fact]
    public async Task Many_async_receivers_beyond_one_dispatchers_capacity_all_complete()
    {
        const int Pairs = InterruptDispatcher.Capacity + 40; // needs a second dispatcher thread
        var pairs = new (IicChannel Sender, IicChannel Receiver)[Pairs];
        try
        {
            for (var i = 0; i < Pairs; i++)
            {
                pairs[i] = IicChannel.CreatePair(s_small with { RingCapacity = 1024, UnsafePreferInlineCompletions = i % 2 == 0 });
            }
            for (var round = 0; round < 3; round++)
            {
                var receives = new Task<int>[Pairs];
                for (var i = 0; i < Pairs; i++)
                {
                    receives[i] = pairs[i].Receiver.ReceiveAsync(new byte[16]).AsTask();
                }
                for (var i = 0; i < Pairs; i++)
                {
                    pairs[i].Sender.Send(BitConverter.GetBytes(i));
                }
                var lengths = await Task.WhenAll(receives).WaitAsync(s_timeout);
                Assert.All(lengths, length => Assert.Equal(sizeof(int), length));
            }
            var dispatchers = pairs.Select(p => p.Receiver.AsyncReceive.Dispatcher).Distinct().Count();
            Assert.True(dispatchers >= 2, $"{Pairs} waiting receivers were served by {dispatchers} dispatcher(s) of capacity {InterruptDispatcher.Capacity}");
        }
        finally
        {
            foreach (var (sender, receiver) in pairs)
            {
                sender?.Dispose();
                receiver?.Dispose();
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(5);
        }
    }
}
