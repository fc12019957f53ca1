using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// With inline completions (client) and inline handlers (server) the code that writes runs on the connection's reader
/// thread. A bidi client writing many requests from there without reading used to fill both rings: the server's inline
/// handler waited for room to write its replies (so its reader stopped reading requests), the client's reader thread
/// waited for room to write requests (so it stopped reading replies), and neither ring drained again. A reader thread
/// now never waits for room: what does not fit is sent after its next polls, and the write's task completes then.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class InlineBackpressureTests(TesterFixture fixture)
{
    /// <summary>
    /// How long the test lets the exchange run before it calls it stuck: a watchdog (the work takes a second or two), not
    /// synchronisation.
    /// </summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_client_writing_from_its_reader_thread_past_both_full_rings_without_reading_is_not_stuck()
    {
        using var server = fixture.StartServer("inline-backpressure", inlineHandlers: true);
        using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: true);
        var client = new Tester.TesterClient(channel.CallInvoker);
        // Task.Run: no synchronisation context, so the code after an inline completion runs where it completed.
        var work = Task.Run(() => WriteFromReaderThenReadAsync(client, "r"));
        var done = await Task.WhenAny(work, Task.Delay(s_stuck)) == work;
        Assert.True(done, $"the exchange of {Count} messages written from the reader thread was still stuck after {s_stuck.TotalSeconds} s (both rings full, both reader threads waiting for room)");
        var (onReader, received, status) = await work;
        Assert.True(onReader, "the writes never ran on the client connection's reader thread: the case was not exercised");
        Assert.Equal(Count, received);
        Assert.Equal(StatusCode.OK, status);
    }

    /// <summary>
    /// The same from the reader thread while a pool thread of the client writes a second stream without reading: that
    /// thread holds the connection's send lock whenever it waits for room, and the reader thread's frames go in between
    /// (it waits for the lock only briefly and never while the holder waits for room). With both sides deferring, the
    /// server always drains, so this passes with a reader that waits for the lock too: it guards the mix, not the lock rule.
    /// </summary>
    [Fact]
    public async Task The_reader_thread_does_not_wait_for_the_send_lock_of_a_thread_waiting_for_room()
    {
        using var server = fixture.StartServer("inline-backpressure-lock", inlineHandlers: true);
        using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: true);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var fromReader = Task.Run(() => WriteFromReaderThenReadAsync(client, "r"));
        var fromPool = Task.Run(async () =>
        {
            // Never awaits a read before the end: every write completes at once here (off the reader thread it waits for
            // room), so this code stays on its pool thread.
            using var call = client.Bidi(deadline: DateTime.UtcNow + (2 * s_stuck));
            for (var i = 0; i < Count; i++)
            {
                await call.RequestStream.WriteAsync(new Request { Text = "p" + i, Payload = Payloads.Of(64) });
            }
            await call.RequestStream.CompleteAsync();
            var received = 0;
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                received++;
            }
            return (received, call.GetStatus().StatusCode);
        });
        var both = Task.WhenAll(fromReader, fromPool);
        var done = await Task.WhenAny(both, Task.Delay(s_stuck)) == both;
        Assert.True(done, $"two streams of {Count} messages, one written from the reader thread, were still stuck after {s_stuck.TotalSeconds} s");
        var (onReader, received, status) = await fromReader;
        Assert.True(onReader, "the writes never ran on the client connection's reader thread: the case was not exercised");
        Assert.Equal(Count, received);
        Assert.Equal(StatusCode.OK, status);
        Assert.Equal((Count, StatusCode.OK), await fromPool);
    }

    /// <summary>1 MiB rings hold ~8 k of these frames each (a 128-byte record): 60 k requests and their replies fill both.</summary>
    private const int Count = 60_000;

    /// <summary>
    /// Ping-pongs until a reply had to be waited for (its inline completion moves this code onto the client connection's
    /// reader thread, where every later completion runs too), then writes the rest of <see cref="Count"/> requests without
    /// reading, then reads every reply in order. Returns whether the writes ran on the reader thread.
    /// </summary>
    private static async Task<(bool OnReader, int Received, StatusCode Status)> WriteFromReaderThenReadAsync(Tester.TesterClient client, string prefix)
    {
        using var call = client.Bidi(deadline: DateTime.UtcNow + (2 * s_stuck));
        var (written, received) = await MoveOntoReaderThreadAsync(call, prefix);
        var onReader = CallConnection.OnReaderThread;
        for (; written < Count; written++)
        {
            await call.RequestStream.WriteAsync(new Request { Text = prefix + written, Payload = Payloads.Of(64) });
        }
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var reply = call.ResponseStream.Current;
            if (reply.Index != received || reply.Text != prefix + received)
            {
                Assert.Fail($"reply {received} arrived as index {reply.Index}, text '{reply.Text}'");
            }
            received++;
        }
        return (onReader, received, call.GetStatus().StatusCode);
    }

    /// <summary>
    /// Ping-pongs on <paramref name="call"/> until a reply had to be waited for: its inline completion moved this code onto
    /// the client connection's reader thread. Returns the requests written and the replies read.
    /// </summary>
    private static async Task<(int Written, int Received)> MoveOntoReaderThreadAsync(AsyncDuplexStreamingCall<Request, Reply> call, string prefix)
    {
        var written = 0;
        var received = 0;
        while (!CallConnection.OnReaderThread && written < 10_000)
        {
            await call.RequestStream.WriteAsync(new Request { Text = prefix + written, Payload = Payloads.Of(64) });
            written++;
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(received, call.ResponseStream.Current.Index);
            received++;
        }
        return (written, received);
    }
}
