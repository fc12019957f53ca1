namespace IIC.Transport.Tests;

/// <summary>What closing a channel allocates: no ObjectDisposedException for an async receive that nobody started.</summary>
public sealed class ClosingAllocationTests
{
    [Fact]
    public void Closing_a_channel_with_no_async_receive_waiting_makes_no_exception()
    {
        var (warmA, warmB) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        warmA.Dispose(); // JIT and first-use work
        warmB.Dispose();

        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (b)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            a.Dispose();
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated == 0, $"Dispose allocated {allocated} bytes with no receive waiting (an exception for a receive that was never started?).");
        }
    }
}
