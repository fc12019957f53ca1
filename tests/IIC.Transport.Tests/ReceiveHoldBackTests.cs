namespace IIC.Transport.Tests;

/// <summary>
/// Issue 17 (round 6): a receive that takes the last waiting message holds its space back until the receiver's next
/// call finds the ring empty (RingReader.HoldBackLimit), so the clear of the line just read is not stored ahead of the
/// reply. What must hold: the space comes back at that next call, and a sender never waits for space a caught-up
/// receiver holds back.
/// </summary>
public sealed class ReceiveHoldBackTests
{
    [Fact]
    public void The_space_of_the_last_message_returns_when_the_receiver_next_finds_the_ring_empty()
    {
        var (a, b) = IicChannel.CreatePair();
        using (a)
        using (b)
        {
            var buffer = new byte[64];
            a.Send(new byte[32]);
            Assert.True(b.TryReceive(buffer, out _));
            Assert.Equal(64, a.GetStatistics().OutgoingOccupancy); // held back: one line
            Assert.False(b.TryReceive(buffer, out _));
            Assert.Equal(0, a.GetStatistics().OutgoingOccupancy);

            a.Send(new byte[32]);
            var handler = new Count();
            Assert.Equal(1, b.Poll(ref handler, 10));
            Assert.Equal(64, a.GetStatistics().OutgoingOccupancy);
            Assert.Equal(0, b.Poll(ref handler, 10));
            Assert.Equal(0, a.GetStatistics().OutgoingOccupancy);
        }
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(8192)]
    public void A_sender_never_waits_for_space_a_caught_up_receiver_holds_back(int capacity)
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = capacity });
        using (a)
        using (b)
        {
            var largest = new byte[a.MaxClaimLength];
            var buffer = new byte[capacity];
            var random = new Random(17);
            for (var i = 0; i < 8 * capacity / 64; i++)
            {
                // Any mix of sizes, each received at once (the receiver stays caught up and holds its last lines back) ...
                Assert.True(a.TrySend(new byte[random.Next(0, 200)]));
                Assert.True(b.TryReceive(buffer, out _));
                if (i % 7 == 0)
                {
                    var handler = new Count();
                    Assert.True(a.TrySend(new byte[random.Next(0, 200)]));
                    Assert.Equal(1, b.Poll(ref handler, 10));
                }
                // ... and the largest message that travels in one record still goes in without waiting.
                Assert.True(a.TrySend(largest), $"step {i}: the largest record did not fit behind a caught-up receiver");
                Assert.True(b.TryReceive(buffer, out var length));
                Assert.Equal(largest.Length, length);
            }
        }
    }

    private struct Count : IMessageHandler
    {
        public int Messages;

        public void OnMessage(ReadOnlySpan<byte> message) => Messages++;
    }
}
