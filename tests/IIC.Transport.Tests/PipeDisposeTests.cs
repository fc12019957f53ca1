namespace IIC.Transport.Tests;

/// <summary>
/// Round 24: the duplex pipe's DisposeAsync checks its drain timeout before it changes anything. Before, a bad one was
/// thrown by the drain's wait after both application ends were completed: the output took no more writes and the channel
/// was never closed (the peer never saw the end).
/// </summary>
public class PipeDisposeTests
{
    private const int Greeting = 100;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(-2.0)]
    [InlineData(60.0 * 24 * 50)] // 50 days: over the wait's limit
    public async Task A_bad_drain_timeout_is_refused_before_the_disposal_starts_and_the_pipe_keeps_working(double minutes)
    {
        var (peer, mine) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (peer)
        {
            var pipe = new IicDuplexPipe(mine).Start();
            try
            {
                var refused = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await pipe.DisposeAsync(TimeSpan.FromMinutes(minutes)));
                Assert.Equal("drainTimeout", refused.ParamName);

                // Nothing changed: the output still sends (round 23: "Writing is not allowed after writer was completed").
                await pipe.Output.WriteAsync(new byte[Greeting]).AsTask().WaitAsync(s_timeout);
                Assert.Equal(Greeting, peer.Receive(new byte[2 * Greeting]));
            }
            finally
            {
                await pipe.DisposeAsync(Timeout.InfiniteTimeSpan).AsTask().WaitAsync(s_timeout);
            }
            Assert.Throws<IicChannelClosedException>(() => peer.Receive(new byte[Greeting])); // the disposal closed the channel
        }
    }
}
