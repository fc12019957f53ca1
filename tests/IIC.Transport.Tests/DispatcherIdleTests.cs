using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// The interrupt dispatcher behind ReceiveAsync sleeps until rung while its receivers are idle (it used to wake every
/// 100 ms to drop cancelled receives), and a cancel or a Dispose wakes it to let go of the receiver at once. Runs alone
/// (no other test's receivers on the process's dispatchers), real memfd windows and futexes, counters not time.
/// </summary>
[Collection(nameof(IsolatedTests))]
public sealed class DispatcherIdleTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    // Long enough that a 100 ms sleep cap would have ended at least three sleeps (the old behaviour fails here).
    private static readonly TimeSpan s_idle = TimeSpan.FromMilliseconds(350);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_idle_pending_receive_lets_its_dispatcher_sleep_until_rung_and_a_cancel_or_dispose_wakes_it_to_let_go(bool dispose)
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, Name = "idle-dispatcher" });
        using (a)
        using (b)
        {
            var buffer = new byte[64];
            // One round trip first, so the receive below goes to a dispatcher that has already run.
            var first = b.ReceiveAsync(buffer).AsTask();
            a.Send("warm"u8);
            Assert.Equal(4, await first.WaitAsync(s_timeout));

            using var cancellation = new CancellationTokenSource();
            var pending = b.ReceiveAsync(buffer, cancellation.Token).AsTask();
            var dispatcher = b.AsyncReceive.Dispatcher!;
            await WaitUntilAsync(() => dispatcher.State == DispatcherState.Parked, "the dispatcher never parked for the idle receive");
            var parks = dispatcher.Parks;
            Thread.Sleep(s_idle); // the idle period under test, not synchronisation: nothing happens in it
            // At most one park more: the State read above may still show the park before the registration's wake
            // (the dispatcher then takes the receiver and parks again). A 100 ms cap would add at least three.
            var woke = dispatcher.Parks - parks;
            Assert.True(woke <= 1, $"the dispatcher woke {woke} times in {s_idle.TotalMilliseconds} ms with its only receiver idle");
            await WaitUntilAsync(() => dispatcher.State == DispatcherState.Parked, "the dispatcher did not go back to sleep");
            parks = dispatcher.Parks;

            if (dispose)
            {
                b.Dispose();
                await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => pending.WaitAsync(s_timeout));
            }
            else
            {
                await cancellation.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(s_timeout));
            }
            // The end woke the dispatcher (without it, it would sleep on until the channel's next message): it ran a
            // round, dropped the receiver and parked again.
            await WaitUntilAsync(() => dispatcher.Parks > parks && dispatcher.State == DispatcherState.Parked, "the cancel or Dispose did not wake the sleeping dispatcher");
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
