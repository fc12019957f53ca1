using IIC.Hardware;
using IIC.Transport;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// Round 25: an error that stops the pipe's receive thread and is not the connection's end (here a real misuse: this
/// thread is receiving on the SingleReader channel under the connection when it starts) reaches Kestrel as Kestrel's
/// socket transport passes an unexpected receive error on: its reads throw it, ConnectionClosed fires, and the connection
/// logs it (IicLog.ReceiveFailed, event 11, Error); the connection is reset too, so the peer's sends end. Before, Kestrel's
/// reads got the exception and nothing else happened: no log entry, and the peer's sends went into a ring nobody read.
/// </summary>
public class ConnectionReceiveFailureTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_receive_error_that_is_not_the_connections_end_fails_Kestrels_reads_resets_the_connection_and_is_logged()
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park, SingleReader = true });
        using (client)
        using (var capture = new LogCapture())
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("receivefail"), IicPipeOptions.Default, capture.CreateLogger(IicLog.Category));
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
            try
            {
                StartTheConnectionWhileThisThreadReceives(client, serverSide, connection, closed.Task);
                await closed.Task.WaitAsync(s_timeout); // round 24: it fired too (the receive thread ended)

                var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () => await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(s_timeout));
                var logged = Assert.Single(capture.Entries, e => e.EventId == 11); // round 24: nothing logged
                Assert.Equal(LogLevel.Error, logged.Level);
                Assert.Same(failure, logged.Exception);
                Assert.Throws<IicChannelClosedException>(() => client.Send(new byte[10])); // round 24: it succeeded
                Assert.True((await connection.Transport.Output.WriteAsync(new byte[10]).AsTask().WaitAsync(s_timeout)).IsCompleted); // as after any reset
            }
            finally
            {
                await connection.DisposeAsync().AsTask().WaitAsync(s_timeout);
            }
        }
    }

    /// <summary>
    /// This thread polls the client's one message off the channel and, holding the receive side, starts the connection,
    /// whose receive thread then meets the misuse; it waits (bounded) for ConnectionClosed, raised once that thread ended.
    /// </summary>
    private static void StartTheConnectionWhileThisThreadReceives(IicChannel client, IicChannel channel, IicConnection connection, Task closed)
    {
        client.Send(new byte[10]);
        var polled = channel.Poll(static (_, state) =>
        {
            state.Connection.Start();
            state.Closed.Wait(s_timeout);
        }, (Connection: connection, Closed: closed), 1);
        Assert.Equal(1, polled);
    }
}
