using System.Buffers.Binary;
using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// Messages larger than a record, caught half-way: a Poll handler that throws, a peer that closes in the middle,
/// an asynchronous receive waiting for the rest. The half-sent message is written with a raw ring writer.
/// </summary>
public class FragmentTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private static readonly ChannelOptions s_small = new() { RingCapacity = 4096, Name = "fragments" };

    [Fact]
    public async Task A_reassembled_message_whose_Poll_handler_throws_is_handed_out_again()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (a)
        using (b)
        {
            var message = new byte[10_000];
            new Random(7).NextBytes(message);
            var send = Task.Factory.StartNew(() => a.Send(message), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var thrown = false;
            while (!thrown)
            {
                await b.WaitToReceiveAsync().AsTask().WaitAsync(s_timeout);
                try
                {
                    b.Poll(static (_, _) => throw new InvalidDataException("handler failed"), 0);
                }
                catch (InvalidDataException)
                {
                    thrown = true;
                }
            }
            await send.WaitAsync(s_timeout);
            var holder = new byte[1][];
            Assert.Equal(1, b.Poll(static (span, box) => box[0] = span.ToArray(), holder, 1));
            Assert.True(message.AsSpan().SequenceEqual(holder[0]), "the message handed out again differs");
            a.Send("next"u8);
            Assert.Equal(4, b.Receive(new byte[8]));
        }
    }

    [Fact]
    public async Task A_peer_closing_in_the_middle_of_a_message_ends_Poll_and_Receive_instead_of_waiting_forever()
    {
        var (a, b) = IicChannel.CreatePair(s_small);
        using (b)
        {
            WriteHalfMessage(a, 100_000);
            Assert.Equal(0, b.Poll(static (_, _) => { }, 0)); // starts reassembling, waits for more
            a.Dispose();
            Assert.Throws<IicChannelClosedException>(() => b.Poll(static (_, _) => { }, 0));
            var receive = Task.Factory.StartNew(() => b.Receive(new byte[200_000]), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await Assert.ThrowsAsync<IicChannelClosedException>(() => receive.WaitAsync(s_timeout));
        }
    }

    [Fact]
    public async Task ReceiveAsync_waiting_for_the_rest_of_a_message_holds_no_thread_and_can_be_cancelled()
    {
        var (a, b) = IicChannel.CreatePair(s_small with { WaitStrategy = WaitStrategy.Park });
        using (a)
        using (b)
        {
            WriteHalfMessage(a, 100_000);
            using var cancellation = new CancellationTokenSource();
            var buffer = new byte[200_000];
            // The call must return at once with a pending receive, not block its caller until the rest arrives.
            var call = Task.Factory.StartNew(() => b.ReceiveAsync(buffer, cancellation.Token).AsTask(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var pending = await call.WaitAsync(s_timeout);
            Assert.False(pending.IsCompleted);
            await cancellation.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(s_timeout));
        }
    }

    /// <summary>Publishes the first fragment of a message of <paramref name="total"/> bytes on <paramref name="sender"/>'s ring, and nothing more.</summary>
    private static void WriteHalfMessage(IicChannel sender, long total)
    {
        var writer = sender.Endpoint.Window.GetRing(sender.Endpoint.Side).CreateWriter();
        var type = (int)RecordFraming.Begin;
        Assert.True(writer.TryClaim(200, type, out var payload));
        BinaryPrimitives.WriteInt64LittleEndian(payload, total);
        payload[8..].Fill(0x5a);
        writer.Commit(type);
    }
}
