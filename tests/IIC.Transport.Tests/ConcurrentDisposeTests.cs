using IIC.Hardware;
using IIC.Transport;

namespace IIC.Transport.Tests;

/// <summary>Dispose may come from any thread while another one sends, receives or polls: no crash, a clear end.</summary>
public class ConcurrentDisposeTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Disposing_a_channel_ends_a_send_blocked_on_a_full_ring_without_touching_unmapped_memory()
    {
        var (sender, receiver) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.Park });
        using (receiver)
        {
            var blocked = Task.Factory.StartNew(() =>
            {
                var message = new byte[512];
                while (true)
                {
                    sender.Send(message); // fills the ring, then waits for room that never comes
                }
            }, TaskCreationOptions.LongRunning);
            Assert.True(SpinWait.SpinUntil(() => sender.GetStatistics().RingFullStalls > 0, s_bound), "the sender never found the ring full");
            sender.Dispose();
            var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => blocked.WaitAsync(s_bound));
            Assert.Contains(nameof(WindowEndpoint), error.ObjectName ?? error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Disposing_a_channel_ends_a_parked_receive_on_another_thread()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, WaitStrategy = WaitStrategy.Park });
        using (first)
        {
            var started = new ManualResetEventSlim();
            var blocked = Task.Factory.StartNew(() =>
            {
                started.Set();
                return second.Receive(new byte[64]);
            }, TaskCreationOptions.LongRunning);
            Assert.True(started.Wait(s_bound));
            Assert.True(SpinWait.SpinUntil(() => second.GetStatistics().Wait.Parks > 0, s_bound), "the receiver never parked");
            second.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => blocked.WaitAsync(s_bound));
            Assert.Throws<IicChannelClosedException>(() => first.Send("after"u8)); // the peer saw the close
        }
    }

    [Fact]
    public void A_poll_handler_may_dispose_its_own_channel_and_the_span_stays_readable_until_it_returns()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (first)
        {
            first.Send("one"u8);
            first.Send("two"u8);
            var seen = new List<string>();
            var handled = second.Poll(static (message, state) =>
            {
                state.Channel.Dispose();
                state.Seen.Add(System.Text.Encoding.UTF8.GetString(message)); // still mapped: Poll is in flight
            }, (Channel: second, Seen: seen));
            Assert.Equal(1, handled); // Poll stops after the disposal
            Assert.Equal(["one"], seen);
            Assert.Throws<ObjectDisposedException>(() => second.Poll(static (_, _) => { }, 0));
        }
    }

    [Fact]
    public void Disposing_with_an_open_claim_keeps_the_claimed_span_writable_until_it_is_committed()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (second)
        {
            Assert.True(first.TryClaim(8, out var claim));
            first.Dispose();
            claim.Span.Fill(42); // the mapping is kept while the claim is open
            var disposed = false;
            try
            {
                claim.Commit();
            }
            catch (ObjectDisposedException)
            {
                disposed = true;
            }
            Assert.True(disposed, "Commit after Dispose must throw ObjectDisposedException");
        }
    }
}
