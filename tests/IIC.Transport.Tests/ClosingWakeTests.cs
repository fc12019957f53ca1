using IIC.Hardware;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 item 5 (round 9): a channel's close wakes a receiver only if it sleeps. Before, <c>Dispose</c> made two
/// unconditional futex wakes (the peer's block through <c>MarkClosed</c>, and our own block), a syscall each per
/// connection for nobody in the common case. Now each is made only for a block whose sleeping flag is set; a receiver
/// that is parked (peer's or ours) is still woken and ends. The futex word (bumped by every wake) tells whether a wake
/// was made. Real memfd windows, futexes and threads; the parked receivers are waited for by their sleep announcement.
/// </summary>
[Collection(nameof(IsolatedTests))]
public sealed class ClosingWakeTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly ChannelOptions s_park = new() { RingCapacity = 4096, WaitStrategy = WaitStrategy.Park, Name = "closing-wake" };

    [Fact]
    public void Closing_with_nobody_asleep_makes_no_futex_wake_on_either_block()
    {
        var (a, b) = IicChannel.CreatePair(s_park);
        using (b)
        {
            var own = a.Endpoint.ReceivePage;
            var peer = b.Endpoint.ReceivePage;
            var ownBefore = own.ReadSequence();
            var peerBefore = peer.ReadSequence();

            a.Dispose();

            Assert.True(peer.ReadSequence() == peerBefore, "the close woke the peer's block with no receiver asleep on it");
            Assert.True(own.ReadSequence() == ownBefore, "the close woke its own block with no receiver asleep on it");
            Assert.Throws<IicChannelClosedException>(() => b.Receive(new byte[8])); // the awake peer sees the end by itself
        }
    }

    [Fact]
    public async Task A_receiver_parked_on_the_peer_wakes_when_the_other_side_closes()
    {
        var (a, b) = IicChannel.CreatePair(s_park);
        using (b)
        {
            var page = b.Endpoint.ReceivePage;
            var receiver = Task.Factory.StartNew(() => Record.Exception(() => b.Receive(new byte[8])), TaskCreationOptions.LongRunning);
            WaitUntilAsleep(page, receiver);
            var before = page.ReadSequence();

            a.Dispose();

            Assert.IsType<IicChannelClosedException>(await receiver.WaitAsync(s_timeout)); // TimeoutException: never woken
            Assert.NotEqual(before, page.ReadSequence());
        }
    }

    [Fact]
    public async Task A_receiver_parked_on_this_side_wakes_when_another_thread_disposes_it()
    {
        var (a, b) = IicChannel.CreatePair(s_park);
        using (b)
        {
            var page = a.Endpoint.ReceivePage;
            var receiver = Task.Factory.StartNew(() => Record.Exception(() => a.Receive(new byte[8])), TaskCreationOptions.LongRunning);
            WaitUntilAsleep(page, receiver);

            a.Dispose();

            Assert.IsType<ObjectDisposedException>(await receiver.WaitAsync(s_timeout)); // TimeoutException: never woken
        }
    }

    /// <summary>Waits (without a clock) until a thread announced sleep on <paramref name="page"/>.</summary>
    private static void WaitUntilAsleep(InterruptPage page, Task receiver)
    {
        var spin = new SpinWait();
        while (page.Sleepers == 0)
        {
            Assert.False(receiver.IsCompleted, "the receiver ended before it parked");
            spin.SpinOnce();
        }
    }
}
