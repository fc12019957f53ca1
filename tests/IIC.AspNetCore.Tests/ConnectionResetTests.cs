using IIC.Hardware;
using IIC.Transport;
using Microsoft.AspNetCore.Connections;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// Round 23: how a Kestrel connection (IicConnection over IicDuplexPipe) ends when bytes come in that nobody will read,
/// compared with Kestrel's SocketConnection: ConnectionClosed fires whenever the receive loop ends, also after Kestrel
/// completed the transport's input, a reset reaches Kestrel's reads as ConnectionResetException with the IICFast exception as
/// its InnerException, and its writes and flushes return IsCompleted (SocketConnection completes its output without an error). The peer is the other end of a real channel pair, sending from its own thread.
/// </summary>
public class ConnectionResetTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private const int Ring = 64 * 1024;

    /// <summary>
    /// Round 25: a client that resets its connection (its pipe or stream closed with bytes unread; here its channel's close
    /// made a reset directly) reaches Kestrel's read as ConnectionResetException, as a RST does over its socket transport,
    /// with the IicChannelClosedException (PeerReset) inside, after the bytes it sent before. Round 24: the read returned
    /// IsCompleted, as after a clean close.
    /// </summary>
    [Fact]
    public async Task A_client_that_resets_reaches_Kestrels_read_as_ConnectionResetException_after_its_bytes()
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = Ring, WaitStrategy = WaitStrategy.Park });
        var connection = new IicConnection(serverSide, new IicEndPoint("peerreset"), IicPipeOptions.Default);
        connection.Start();
        try
        {
            client.Send(new byte[100]);
            client.Endpoint.ResetOnClose();
            client.Dispose();
            var (read, reset) = await ReadUntilResetAsync(connection, "the reset");
            Assert.Equal(100, read);
            Assert.True(Assert.IsType<IicChannelClosedException>(reset.InnerException).PeerReset);
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    /// <summary>
    /// Round 25b: a client that dies after sending (its side marked dead, as the hypervisor or the death watcher marks a
    /// killed partition's) reaches Kestrel's read as ConnectionResetException with the PeerDeadException inside, after
    /// every byte it sent, also when the connection had ended before Kestrel's first read. Round 25: the first read threw
    /// and the 100 bytes were lost.
    /// </summary>
    [Fact]
    public async Task A_client_that_dies_reaches_Kestrels_read_as_ConnectionResetException_after_its_bytes()
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = Ring, WaitStrategy = WaitStrategy.Park });
        var connection = new IicConnection(serverSide, new IicEndPoint("peerdeath"), IicPipeOptions.Default);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
        connection.Start();
        try
        {
            client.Send(new byte[100]);
            client.Endpoint.Window.MarkDead(client.Endpoint.Side);
            await closed.Task.WaitAsync(s_timeout); // the receive thread took the 100 bytes, met the death and ended
            var (read, reset) = await ReadUntilResetAsync(connection, "the death");
            Assert.Equal(100, read);
            Assert.IsType<PeerDeadException>(reset.InnerException);
        }
        finally
        {
            await connection.DisposeAsync();
            client.Dispose();
        }
    }

    [Fact]
    public async Task Bytes_after_Kestrel_completed_the_input_fire_ConnectionClosed_and_end_the_peers_send()
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = Ring, WaitStrategy = WaitStrategy.Park });
        using (client)
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("reset"), IicPipeOptions.Default);
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
            connection.Start();
            try
            {
                await connection.Transport.Input.CompleteAsync(); // Kestrel reads no more (its HTTP/2 teardown does this)

                // The peer keeps sending, more than the ring holds. Round 22: the receive thread dropped the first batch and
                // stopped, ConnectionClosed never fired, and a send waited for room until the connection was disposed.
                var peerSend = Task.Factory.StartNew(() =>
                {
                    var message = new byte[1000];
                    while (true)
                    {
                        client.Send(message); // until one ends with the reset
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                await closed.Task.WaitAsync(s_timeout);
                await Assert.ThrowsAsync<IicChannelClosedException>(() => peerSend.WaitAsync(s_timeout));

                // Kestrel's writes end as over its socket transport: IsCompleted, no exception (Kestrel logs a throwing
                // flush as an error; KestrelDisconnectLoggingTests). Round 23 before that: ConnectionResetException.
                Assert.True((await connection.Transport.Output.WriteAsync(new byte[10])).IsCompleted);
                Assert.True((await connection.Transport.Output.FlushAsync()).IsCompleted);
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Round 24: Kestrel completing the transport's input with bytes it has not consumed resets the connection at once, as
    /// its socket transport's close of a socket with unread data does: ConnectionClosed fires, the peer's next send ends,
    /// and Kestrel's writes return IsCompleted. Round 23 reset only for bytes arriving after the Complete: the peer sent on.
    /// </summary>
    [Fact]
    public async Task Kestrel_completing_the_input_with_bytes_unread_fires_ConnectionClosed_and_ends_the_peers_send()
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = Ring, WaitStrategy = WaitStrategy.Park });
        using (client)
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("unread"), IicPipeOptions.Default);
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
            connection.Start();
            try
            {
                client.Send(new byte[1000]);
                var input = connection.Transport.Input;
                var result = await input.ReadAsync().AsTask().WaitAsync(s_timeout);
                Assert.Equal(1000, result.Buffer.Length);
                input.AdvanceTo(result.Buffer.GetPosition(100), result.Buffer.End); // 900 bytes left unread
                await input.CompleteAsync();

                await closed.Task.WaitAsync(s_timeout);
                Assert.Throws<IicChannelClosedException>(() => client.Send(new byte[10]));
                Assert.True((await connection.Transport.Output.WriteAsync(new byte[10])).IsCompleted);
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_refused_message_reaches_Kestrel_as_ConnectionResetException_on_its_reads_with_the_refusal_inside_and_completes_its_output()
    {
        const int Limit = 32 * 1024;
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = Ring, WaitStrategy = WaitStrategy.Park, MaxReceiveMessageLength = Limit });
        using (client)
        {
            var connection = new IicConnection(serverSide, new IicEndPoint("refusal"), IicPipeOptions.Default);
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
            client.Send(new byte[100]); // before the gap: Kestrel gets these first
            var peerSend = SendOnItsOwnThread(client, new byte[8 * Ring]); // fragmented, over the limit: refused
            connection.Start();
            try
            {
                var input = connection.Transport.Input;
                long received = 0;
                ConnectionResetException? reset = null;
                while (reset is null)
                {
                    try
                    {
                        var result = await input.ReadAsync().AsTask().WaitAsync(s_timeout);
                        Assert.False(result.IsCompleted, "the input said it completed instead of reporting the refused message");
                        received += result.Buffer.Length;
                        input.AdvanceTo(result.Buffer.End);
                    }
                    catch (ConnectionResetException e)
                    {
                        reset = e; // round 22: a bare ReceiveLimitExceededException, which Kestrel logs as an unexpected error
                    }
                }
                Assert.Equal(100, received);
                var refusal = Assert.IsType<ReceiveLimitExceededException>(reset.InnerException);
                Assert.Equal(8 * Ring, refusal.MessageLength);

                // The same instance on every later read; the output ends as a socket's does after a reset: IsCompleted, no
                // exception (round 23 before that: the same ConnectionResetException, which Kestrel logs as an error).
                Assert.Same(reset, await Assert.ThrowsAsync<ConnectionResetException>(async () => await input.ReadAsync()));
                Assert.True((await connection.Transport.Output.WriteAsync(new byte[10])).IsCompleted);
                Assert.True((await connection.Transport.Output.FlushAsync()).IsCompleted);

                await closed.Task.WaitAsync(s_timeout);
                await Assert.ThrowsAsync<IicChannelClosedException>(() => peerSend.WaitAsync(s_timeout));
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>A blocking send on a thread of its own (it waits for room while the ring is full).</summary>
    private static Task SendOnItsOwnThread(IicChannel channel, byte[] message)
        => Task.Factory.StartNew(() => channel.Send(message), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Reads Kestrel's input until it throws ConnectionResetException; returns the bytes read before it and the exception.</summary>
    private static async Task<(long Read, ConnectionResetException Reset)> ReadUntilResetAsync(IicConnection connection, string end)
    {
        var read = 0L;
        while (true)
        {
            try
            {
                var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                Assert.False(result.IsCompleted, $"{end} read as a clean end");
                read += result.Buffer.Length;
                connection.Transport.Input.AdvanceTo(result.Buffer.End);
            }
            catch (ConnectionResetException e)
            {
                return (read, e);
            }
        }
    }
}
