using System.IO.Pipelines;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 24 (docs/window-layout.md 2.4, "How the pipe's send loop ends"): an exception that is not the channel's end
/// (here a real misuse: another thread holds a claim on the pipe's SingleWriter channel while the application flushes,
/// so the send loop's claim throws InvalidOperationException) ends the output with that exception, closes the
/// connection, raises ChannelEnded and is reported, as Kestrel's SocketConnection ends one at an unexpected send error.
/// Before, it escaped the send loop: the output's reader was never completed, the next writes succeeded without sending
/// anything, a flush over the pause threshold never ended, and DisposeAsync threw it. The peer is the other end of a
/// real channel pair.
/// </summary>
public class PipeSendFailureTests
{
    private const int Ring = 64 * 1024;
    private const int Greeting = 100;
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task An_error_that_is_not_the_channels_end_fails_the_next_write_with_it_closes_the_connection_and_is_reported()
    {
        var (peer, mine) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = Ring, SingleWriter = true });
        using (peer)
        {
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reported = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            var pipe = new IicDuplexPipe(mine) { ChannelEnded = () => ended.TrySetResult(), UnexpectedError = (e, direction) => reported.TrySetResult(direction == PipeDirection.Send ? e : new InvalidOperationException("reported as a receive error", e)) }.Start();
            try
            {
                FlushOnAnotherThreadWhileThisOneHoldsAClaim(mine, pipe.Output);

                // The application's next write throws the send loop's exception, untranslated. Round 23: it succeeded, as did
                // every write after it, and the first flush over OutputPauseThreshold waited for ever.
                var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () => await pipe.Output.WriteAsync(new byte[Greeting]).AsTask().WaitAsync(s_timeout));
                Assert.Contains("SingleWriter", failure.Message, StringComparison.Ordinal);
                Assert.Same(failure, await reported.Task.WaitAsync(s_timeout));
                await ended.Task.WaitAsync(s_timeout); // Kestrel's ConnectionClosed, for a connection
                await pipe.SendEnded.WaitAsync(s_timeout); // completed, not faulted
                Assert.Equal(0, pipe.QueuedBytes);

                // The connection is closed: the peer sees the end instead of waiting for bytes that were never sent.
                Assert.Throws<IicChannelClosedException>(() => peer.Receive(new byte[Greeting]));
                await pipe.ReceiveEnded.WaitAsync(s_timeout);
            }
            finally
            {
                await pipe.DisposeAsync().AsTask().WaitAsync(s_timeout); // round 23 threw the send loop's exception here
            }
        }
    }

    /// <summary>
    /// This thread claims room on the SingleWriter channel under the pipe and keeps the claim open while a write on a
    /// pool thread flushes: the pipe's send loop runs inline on that thread and its claim meets the misuse. A ref struct
    /// claim cannot live across an await, hence the blocking wait here.
    /// </summary>
    private static void FlushOnAnotherThreadWhileThisOneHoldsAClaim(IicChannel channel, PipeWriter output)
    {
        Assert.True(channel.TryClaim(8, out var claim));
        try
        {
            var flush = Task.Run(async () => await output.WriteAsync(new byte[Greeting]));
            Assert.True(flush.Wait(s_timeout), "the flush did not return");
        }
        finally
        {
            try
            {
                claim.Abort();
            }
            catch (ObjectDisposedException)
            {
                // the pipe closed the channel meanwhile
            }
        }
    }
}
