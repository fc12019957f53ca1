using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Streams on the native path: streamed messages are parsed where they lie in the ring by the connection's reader
/// thread and queued; a waiting reader is woken once per poll batch, not once per message; an inline handler streaming
/// a burst lets its connection's reader poll between writes, so a cancel reaches it.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class StreamingTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    public static TheoryData<string, bool> PathsAndServers => new()
    {
        { "native", false },
        { "native-inline", false },
        { "native", true },
        { "native-inline", true },
    };

    [Theory]
    [MemberData(nameof(PathsAndServers))]
    public async Task A_stream_of_100k_messages_arrives_intact_and_in_order(string path, bool inlineHandlers)
    {
        using var server = inlineHandlers ? fixture.StartServer("stream-100k", inlineHandlers: true) : null;
        using var channel = server is null ? fixture.Open(path) : fixture.Connect(server.Address("iic://"), inlineCompletions: path == "native-inline");
        var client = new Tester.TesterClient(channel.CallInvoker);
        const int Count = 100_000;
        var payload = Payloads.Of(32);
        using var call = client.ServerStream(new Request { Count = Count, Payload = payload }, deadline: DateTime.UtcNow + s_timeout);
        var received = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var reply = call.ResponseStream.Current;
            if (reply.Index != received || !payload.Span.SequenceEqual(reply.Payload.Span))
            {
                Assert.Fail($"message {received} arrived as index {reply.Index} with {reply.Payload.Length} B of payload");
            }
            received++;
        }
        Assert.Equal(Count, received);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [MemberData(nameof(PathsAndServers))]
    public async Task A_bidi_burst_of_10k_requests_is_answered_intact_and_in_order(string path, bool inlineHandlers)
    {
        using var server = inlineHandlers ? fixture.StartServer("stream-bidi", inlineHandlers: true) : null;
        using var channel = server is null ? fixture.Open(path) : fixture.Connect(server.Address("iic://"), inlineCompletions: path == "native-inline");
        var client = new Tester.TesterClient(channel.CallInvoker);
        const int Count = 10_000;
        using var call = client.Bidi(deadline: DateTime.UtcNow + s_timeout);
        // Every request written before any reply is read: the server's request queue and the client's reply queue fill
        // with whole batches.
        for (var i = 0; i < Count; i++)
        {
            await call.RequestStream.WriteAsync(new Request { Text = "r" + i, Payload = Payloads.Of(i % 100) });
        }
        await call.RequestStream.CompleteAsync();
        var received = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var reply = call.ResponseStream.Current;
            if (reply.Index != received || reply.Text != "r" + received || !Payloads.Of(received % 100).Span.SequenceEqual(reply.Payload.Span))
            {
                Assert.Fail($"reply {received} arrived as index {reply.Index}, text '{reply.Text}', {reply.Payload.Length} B of payload");
            }
            received++;
        }
        Assert.Equal(Count, received);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    /// <summary>
    /// Deterministic: the client's reader thread is held (an inline continuation of another call blocks it) while the
    /// server writes a burst of 50 messages into the ring, and the stream's reader is already waiting. Released, the
    /// reader takes the burst in one poll batch and wakes the waiting reader once, which then reads all 50 without
    /// waiting again. (Woken per message, as before, it waited 50 times.)
    /// </summary>
    [Fact]
    public async Task A_waiting_reader_is_woken_once_per_batch_and_takes_the_whole_batch()
    {
        using var channel = fixture.Open("native-inline");
        using var probe = fixture.Open("native"); // its own connection and reader: asks the server what it wrote
        var client = new Tester.TesterClient(channel.CallInvoker);
        var asker = new Tester.TesterClient(probe.CallInvoker);
        using var blocked = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var key = "batch-" + Guid.NewGuid();
        const int Burst = 50;
        var hold = client.UnaryAsync(new Request { Text = "hold" }, deadline: DateTime.UtcNow + s_timeout).ResponseAsync.ContinueWith(_ =>
        {
            blocked.Set(); // with InlineCompletions this runs on the client connection's reader thread, and holds it
            release.Wait(s_timeout);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            Assert.True(blocked.Wait(s_timeout), "the unary call's continuation did not start");
            using var call = client.ServerStream(new Request { Count = Burst, Mode = "forever", Key = key }, deadline: DateTime.UtcNow + s_timeout);
            var first = call.ResponseStream.MoveNext(CancellationToken.None);
            Assert.False(first.IsCompleted, "nothing can have been read while the reader thread is held");
            // The server wrote the whole burst into the ring once it says so (asked over the other connection).
            var deadline = DateTime.UtcNow + s_timeout;
            while ((await asker.UnaryAsync(new Request { Mode = "written?", Key = key }, deadline: deadline)).Index != Burst)
            {
            }
            release.Set();
            Assert.Equal(1, await ReadBurstAsync(call.ResponseStream, first, Burst));
        }
        finally
        {
            release.Set();
            await hold;
        }
    }

    /// <summary>
    /// Reads <paramref name="count"/> messages (the first's MoveNext already made) and returns how many MoveNext calls had
    /// to wait. ConfigureAwait(false): the reading code continues where the wake completes it (the reader thread, with
    /// inline completions), not posted to the test framework's context, which would let the reader queue the rest first.
    /// </summary>
    private static async Task<int> ReadBurstAsync(IAsyncStreamReader<Reply> stream, Task<bool> first, int count)
    {
        var waits = 1; // the first waited: the caller saw it incomplete (it may have completed since)
        Assert.True(await first.ConfigureAwait(false));
        for (var i = 1; i < count; i++)
        {
            var next = stream.MoveNext(CancellationToken.None);
            if (!next.IsCompleted)
            {
                waits++;
            }
            Assert.True(await next.ConfigureAwait(false));
            Assert.Equal(i, stream.Current.Index);
        }
        return waits;
    }

    /// <summary>
    /// An inline handler streaming on its connection's reader thread yields to the reader between writes: the client's
    /// cancel of an endless stream reaches it (its next write fails), and the connection keeps answering other calls.
    /// Before, the handler held the reader thread for the whole stream: the cancel was never read.
    /// </summary>
    [Theory]
    [InlineData("native")]
    [InlineData("native-inline")]
    public async Task Cancelling_an_endless_stream_mid_burst_reaches_an_inline_handler_and_the_channel_stays_usable(string path)
    {
        using var server = fixture.StartServer("stream-cancel-" + path, inlineHandlers: true);
        using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: path == "native-inline");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = "endless-" + Guid.NewGuid();
        using (var cancellation = new CancellationTokenSource())
        {
            using var call = client.ServerStream(new Request { Count = int.MaxValue, Key = key, Payload = Payloads.Of(32) }, cancellationToken: cancellation.Token);
            for (var i = 0; i < 1000; i++)
            {
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
                Assert.Equal(i, call.ResponseStream.Current.Index);
            }
            await cancellation.CancelAsync();
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }
            });
            Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        }
        // The same connection answers, and its handler saw the cancel: its write in progress failed with
        // OperationCanceledException ("cancelled"), or, as Grpc.AspNetCore's since round 17, its next write was refused
        // with InvalidOperationException ("refused"; before, it failed with OperationCanceledException too).
        var deadline = DateTime.UtcNow + s_timeout;
        while (!(await client.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: deadline)).Flag)
        {
        }
        var reply = await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout);
        Assert.Equal("after", reply.Text);
    }

    /// <summary>
    /// A handler waiting for the next request on the call's own token (which needs no registration per wait) is woken
    /// when the client cancels: its wait ends with OperationCanceledException.
    /// </summary>
    [Theory]
    [MemberData(nameof(PathsAndServers))]
    public async Task A_handler_waiting_for_a_request_ends_when_the_client_cancels(string path, bool inlineHandlers)
    {
        using var server = inlineHandlers ? fixture.StartServer("stream-wait-cancel", inlineHandlers: true) : null;
        using var channel = server is null ? fixture.Open(path) : fixture.Connect(server.Address("iic://"), inlineCompletions: path == "native-inline");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = "waiting-" + Guid.NewGuid();
        using (var cancellation = new CancellationTokenSource())
        {
            using var call = client.ClientStream(cancellationToken: cancellation.Token);
            await call.RequestStream.WriteAsync(new Request { Key = key, Count = 1 });
            await cancellation.CancelAsync();
            var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        }
        var deadline = DateTime.UtcNow + s_timeout;
        while (!(await client.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: deadline)).Flag)
        {
        }
    }

    [Theory]
    [InlineData("native")]
    [InlineData("native-inline")]
    public async Task A_streamed_message_that_fails_to_parse_ends_the_call_in_its_place(string path)
    {
        using var channel = fixture.Open(path);
        var method = new Method<Request, Reply>(MethodType.ServerStreaming, "iic.testing.Tester", "ServerStream",
            Marshallers.Create<Request>(r => r.ToByteArray(), b => Request.Parser.ParseFrom(b)),
            new Marshaller<Reply>(static (r, context) => context.Complete(r.ToByteArray()), static context =>
            {
                var reply = Reply.Parser.ParseFrom(context.PayloadAsReadOnlySequence());
                return reply.Index == 5 ? throw new InvalidDataException("the fifth reply is refused") : reply;
            }));
        using var call = channel.CallInvoker.AsyncServerStreamingCall(method, null, new CallOptions(deadline: DateTime.UtcNow + s_timeout), new Request { Count = 10 });
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(i, call.ResponseStream.Current.Index);
        }
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Equal(StatusCode.Internal, call.GetStatus().StatusCode);
    }

    [Fact]
    public void StreamBuffer_keeps_order_across_wraps_and_growth()
    {
        var buffer = new StreamBuffer<string>();
        var next = 0;
        var expected = 0;
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < round % 40; i++)
            {
                buffer.Enqueue(new StreamEntry<string>((next++).ToString(System.Globalization.CultureInfo.InvariantCulture), null));
            }
            for (var i = 0; i < round % 7 && buffer.TryDequeue(out var entry); i++)
            {
                Assert.Equal((expected++).ToString(System.Globalization.CultureInfo.InvariantCulture), entry.Message);
            }
        }
        while (buffer.TryDequeue(out var entry))
        {
            Assert.Equal((expected++).ToString(System.Globalization.CultureInfo.InvariantCulture), entry.Message);
        }
        Assert.Equal(next, expected);
        Assert.Equal(0, buffer.Count);
    }
}
