using IIC.Hardware;
using IIC.Transport;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// Round 24: an error that stops the pipe's send loop and is not the connection's end (here a real misuse: a thread holds
/// a claim on the SingleWriter channel under the connection while Kestrel flushes) reaches Kestrel as Kestrel's socket
/// transport passes an unexpected send error on: its next write throws it (not IsCompleted, although the connection's
/// output otherwise ends without an error), ConnectionClosed fires, the peer sees the end, and the connection logs it
/// (IicLog.SendFailed, Error). Before, the exception escaped the send loop: Kestrel's writes went on without sending
/// and its first flush over the pause threshold never ended, with nothing logged.
/// </summary>
public class ConnectionSendFailureTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_send_error_that_is_not_the_connections_end_fails_Kestrels_next_write_closes_the_connection_and_is_logged()
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park, SingleWriter = true });
        using (client)
        using (var capture = new LogCapture())
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("sendfail"), IicPipeOptions.Default, capture.CreateLogger(IicLog.Category));
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
            connection.Start();
            try
            {
                FlushOnAnotherThreadWhileThisOneHoldsAClaim(serverSide, connection);

                var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () => await connection.Transport.Output.WriteAsync(new byte[10]).AsTask().WaitAsync(s_timeout));
                await closed.Task.WaitAsync(s_timeout);
                Assert.Throws<IicChannelClosedException>(() => client.Receive(new byte[100]));
                var logged = Assert.Single(capture.Entries, e => e.EventId == 10);
                Assert.Equal(LogLevel.Error, logged.Level);
                Assert.Same(failure, logged.Exception);
            }
            finally
            {
                await connection.DisposeAsync().AsTask().WaitAsync(s_timeout);
            }
        }
    }

    /// <summary>This thread keeps a claim open while a pool thread flushes Kestrel's write (the send loop runs on it).</summary>
    private static void FlushOnAnotherThreadWhileThisOneHoldsAClaim(IicChannel channel, IicConnection connection)
    {
        Assert.True(channel.TryClaim(8, out var claim));
        try
        {
            var flush = Task.Run(async () => await connection.Transport.Output.WriteAsync(new byte[10]));
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
                // the connection closed the channel meanwhile
            }
        }
    }
}
