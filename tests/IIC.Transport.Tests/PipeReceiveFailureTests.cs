using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 25 (docs/window-layout.md 2.4, "How the pipe's receive thread ends"): an exception that stops the receive thread
/// and is not the channel's end (here a real misuse: this thread is receiving on the pipe's SingleReader channel when the
/// receive thread starts, so the receive thread's poll throws InvalidOperationException) is reported, fails the input and
/// the output with that exception, raises ChannelEnded and resets the connection, so the peer's sends end, as Kestrel's
/// SocketConnection.DoReceive logs an unexpected receive error, completes its input with it and fires ConnectionClosed.
/// Before, only the input heard of it: nothing was reported, the output went on, and the channel stayed open, so the
/// peer's sends went into a ring nobody read any more. The peer is the other end of a real channel pair.
/// </summary>
public class PipeReceiveFailureTests
{
    private const int Ring = 64 * 1024;
    private const int Greeting = 100;
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task An_error_that_is_not_the_channels_end_fails_the_input_and_output_with_it_resets_the_connection_and_is_reported()
    {
        var (peer, mine) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = Ring, SingleReader = true });
        using (peer)
        {
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reported = new TaskCompletionSource<(Exception Error, PipeDirection Direction)>(TaskCreationOptions.RunContinuationsAsynchronously);
            var pipe = new IicDuplexPipe(mine) { ChannelEnded = () => ended.TrySetResult(), UnexpectedError = (e, direction) => reported.TrySetResult((e, direction)) };
            try
            {
                StartThePipeWhileThisThreadReceives(peer, mine, pipe, reported.Task);

                var (failure, direction) = await reported.Task.WaitAsync(s_timeout); // round 24: never reported
                Assert.Equal(PipeDirection.Receive, direction);
                Assert.IsType<InvalidOperationException>(failure);
                Assert.Contains("SingleReader", failure.Message, StringComparison.Ordinal);

                // The input fails with it, untranslated (as before), and so does the output now (round 24: the write succeeded).
                Assert.Same(failure, await Assert.ThrowsAsync<InvalidOperationException>(async () => await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout)));
                Assert.Same(failure, await Assert.ThrowsAsync<InvalidOperationException>(async () => await pipe.Output.WriteAsync(new byte[Greeting]).AsTask().WaitAsync(s_timeout)));
                await ended.Task.WaitAsync(s_timeout); // Kestrel's ConnectionClosed, for a connection
                await pipe.ReceiveEnded.WaitAsync(s_timeout);

                // The connection is reset: the peer's send ends instead of filling a ring nobody reads (round 24: it succeeded).
                Assert.Throws<IicChannelClosedException>(() => peer.Send(new byte[Greeting]));
            }
            finally
            {
                await pipe.DisposeAsync().AsTask().WaitAsync(s_timeout);
            }
        }
    }

    /// <summary>
    /// The peer sends one message; this thread polls it off the SingleReader channel under the pipe, and inside that poll
    /// (holding the channel's receive side) starts the pipe and waits until its receive thread has met the misuse and
    /// reported it (bounded: a receive thread that reported nothing is the old behaviour, and the caller's wait fails).
    /// </summary>
    private static void StartThePipeWhileThisThreadReceives(IicChannel peer, IicChannel channel, IicDuplexPipe pipe, Task reported)
    {
        peer.Send(new byte[Greeting]);
        var polled = channel.Poll(static (_, state) =>
        {
            state.Pipe.Start();
            state.Reported.Wait(s_timeout);
        }, (Pipe: pipe, Reported: reported), 1);
        Assert.Equal(1, polled);
    }
}
