namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17: what any shortcut on an empty receive (fewer stores, or one day no gate) must never hide: a whole
/// message held in the reassembly buffer, the peer's end, and this side's disposal; and an empty poll allocates
/// nothing. (A gate-less empty check was tried and reverted: after Dispose unmaps the window, a check outside the
/// in-flight flags read unmapped memory; the second test below crashed the test host with it.)
/// </summary>
public sealed class EmptyReceiveTests
{
    [Fact]
    public void A_reassembled_message_whose_handler_threw_is_handed_out_again_though_the_ring_is_empty()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, SingleReader = true });
        using (a)
        using (b)
        {
            var message = new byte[3000]; // larger than one record (1 KiB - 8): travels as fragments
            message[0] = 7;
            message[^1] = 9;
            a.Send(message);
            var handed = 0;
            Assert.Throws<InvalidDataException>(() => b.Poll((span, _) =>
            {
                handed++;
                throw new InvalidDataException("handler failed");
            }, 0));
            Assert.Equal(1, handed);
            Assert.Equal(0, a.GetStatistics().OutgoingOccupancy); // every fragment was consumed: the ring is empty
            var buffer = new byte[4096];
            Assert.True(b.TryReceive(buffer, out var length), "the message waiting in the reassembly buffer must be delivered");
            Assert.Equal(3000, length);
            Assert.Equal(7, buffer[0]);
            Assert.Equal(9, buffer[2999]);
            Assert.False(b.TryReceive(buffer, out _));
            Assert.Equal(0, b.Poll(static (_, _) => { }, 0));
        }
    }

    [Fact]
    public void An_empty_channel_still_reports_the_peers_close_and_its_own_disposal()
    {
        var (a, b) = IicChannel.CreatePair();
        var buffer = new byte[16];
        Assert.False(b.TryReceive(buffer, out _));
        Assert.Equal(0, b.Poll(static (_, _) => { }, 0));
        a.Dispose();
        Assert.Throws<IicChannelClosedException>(() => b.TryReceive(buffer, out _));
        Assert.Throws<IicChannelClosedException>(() => b.Poll(static (_, _) => { }, 0)); // sticky: every later receive
        Assert.Throws<IicChannelClosedException>(() => b.TryReceive(buffer, out _, TimeSpan.FromSeconds(5)));
        b.Dispose();
        Assert.Throws<ObjectDisposedException>(() => b.TryReceive(buffer, out _));
        Assert.Throws<ObjectDisposedException>(() => b.Poll(static (_, _) => { }, 0));
    }

    [Fact]
    public void Polling_an_empty_channel_allocates_nothing()
    {
        var (a, b) = IicChannel.CreatePair();
        using (a)
        using (b)
        {
            var handler = new CountingHandler();
            b.Poll(ref handler); // JIT and first-use work
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++)
            {
                b.Poll(ref handler);
            }
            Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
            Assert.Equal(0, handler.Count);
        }
    }

    private struct CountingHandler : IMessageHandler
    {
        public int Count;

        public void OnMessage(ReadOnlySpan<byte> message) => Count++;
    }
}
