using System.Buffers.Binary;
using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;
using static IIC.Grpc.Tests.HeaderBlocks;

namespace IIC.Grpc.Tests;

/// <summary>
/// Header blocks longer than one ring record (round 18, docs/grpc-call-protocol.md 2.9): a CallStart, ResponseHeaders or
/// Trailers frame whose metadata does not fit one record goes as that frame (flag Continued) and Continuation frames, each
/// one record, so no send waits for room holding a thread (the sender awaits room on the stall clock, the reader thread
/// hands such frames to it). The bounds on a block's size are HeaderBlockLimitTests'.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ContinuationTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = HeaderBlocks.Timeout;

    /// <summary>Pins behaviour (passes before round 18 too): request headers, response headers and trailers of many records each round-trip exactly.</summary>
    [Theory]
    [InlineData(SmallRing, 100 * 1024, 3 * 1024)] // 16 KiB records: about seven pieces per block
    [InlineData(1024 * 1024, 700 * 1024, 200 * 1024)] // the default ring's 256 KiB records: three pieces, entries larger than a record
    public async Task Headers_and_trailers_larger_than_a_record_round_trip_exactly(int ringCapacity, int totalBytes, int entryBytes)
    {
        using var server = StartServer(fixture, $"frames-roundtrip-{ringCapacity}");
        using var channel = Connect(fixture, server, ringCapacity);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var headers = BigHeaders(totalBytes, entryBytes);
        for (var round = 0; round < 3; round++)
        {
            using var call = client.UnaryAsync(new Request { Mode = "echo-metadata", Text = "r" + round }, headers, Deadline);
            var responseHeaders = await call.ResponseHeadersAsync;
            var reply = await call.ResponseAsync;
            Assert.Equal(("r" + round, headers.Count), (reply.Text, reply.Index));
            Assert.True(StuckWrite.ConnectionOf(channel).MaxClaimLength < totalBytes / 2, "the blocks take several records");
            AssertSameBigEntries(headers, responseHeaders);
            AssertSameBigEntries(headers, call.GetTrailers());
        }
        // Calls with small metadata on the same connection meanwhile and after: unaffected.
        var small = await client.UnaryAsync(new Request { Text = "small", Payload = Payloads.Of(1000) }, deadline: Deadline);
        Assert.Equal(("small", 1000), (small.Text, small.Payload.Length));
    }

    /// <summary>
    /// Fails before round 18: trailers longer than a record were sent by the connection's sender with the channel's waiting
    /// Send, holding a pool thread (and the send lock) until the client read, outside the stall clock, so a client that reads
    /// nothing held them for ever and the connection was never closed. Now their pieces wait for room as any frame does, on
    /// the clock: the connection closes after the limit, and the server serves others on.
    /// </summary>
    [Fact]
    public async Task Trailers_larger_than_a_record_to_a_client_that_reads_nothing_run_the_stall_clock_and_hold_no_thread()
    {
        using var server = StartServer(fixture, "frames-stall", "stall-timeout-ms=1000");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var raw = RawClient.Connect(fixture, "frames-stall", s_timeout, out var settings);
        Assert.Equal((byte)FrameType.Settings, settings[0]);

        // 2 MiB of trailers: twice the 1 MiB ring, so they can never all be in it while the client reads nothing.
        raw.Send(RawClient.CallStart(1, "Unary", new Request { Mode = "big-trailers", Key = "frames-stall", Count = 2 * 1024 * 1024 }));
        WaitFor.Condition(() => observer.Unary(new Request { Mode = "written?", Key = "frames-stall" }, deadline: Deadline).Index == 1, "the handler ran");
        WaitFor.Condition(() => server.Output.Contains("the client read nothing of the responses for more than 1 s", StringComparison.Ordinal),
            "the server closed the stalled connection", timeout: s_timeout, diagnostics: () => server.Output);

        // The raw client finds the pieces that were in the ring (one record each, the first continued), then the end.
        var (pieces, ended) = await Task.Run(() =>
        {
            var buffer = new byte[4 << 20];
            var pieces = 0;
            try
            {
                while (raw.TryReceive(buffer, out var length, s_timeout))
                {
                    Assert.True(length <= raw.MaxClaimLength, $"a frame of {length} bytes, more than one record ({raw.MaxClaimLength})");
                    var type = (FrameType)buffer[0];
                    Assert.Equal(pieces == 0 ? FrameType.Trailers : FrameType.Continuation, type);
                    Assert.True(((FrameFlags)buffer[1] & FrameFlags.Continued) != 0, "a piece before the last is marked continued");
                    Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(2)));
                    pieces++;
                }
                return (pieces, "still open");
            }
            catch (IicException e)
            {
                return (pieces, e.GetType().Name);
            }
        }).WaitAsync(s_timeout + s_timeout);
        Assert.Equal(nameof(IicChannelClosedException), ended);
        Assert.True(pieces >= 2, $"{pieces} pieces arrived before the close");

        // Another client's calls go on, large metadata included.
        var reply = await observer.UnaryAsync(new Request { Text = "after", Payload = Payloads.Of(100_000) }, deadline: Deadline);
        Assert.Equal(("after", 100_000), (reply.Text, reply.Payload.Length));
        var headers = BigHeaders(600 * 1024, 100 * 1024);
        using var call = observer.UnaryAsync(new Request { Mode = "echo-metadata" }, headers, Deadline);
        AssertSameBigEntries(headers, await call.ResponseHeadersAsync);
        Assert.Equal(headers.Count, (await call.ResponseAsync).Index);
    }

    /// <summary>
    /// Fails (hangs) before round 18: the reader threads of two inline peers sent header blocks longer than a record
    /// waiting for room, each waiting for the other to read. Now such frames go from the connection's sender and the
    /// reader threads go on reading.
    /// </summary>
    [Fact]
    public async Task Two_inline_peers_exchanging_header_blocks_larger_than_a_record_are_not_stuck()
    {
        using var server = StartServer(fixture, "frames-inline", "inline-handlers");
        using var channel = Connect(fixture, server, SmallRing, inlineCompletions: true);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var headers = BigHeaders(40 * 1024, 2 * 1024); // about three records of the 64 KiB ring per block
        var work = Task.Run(async () =>
        {
            // Ping-pong until a reply had to be waited for: its inline completion moves this code onto the client
            // connection's reader thread.
            using var first = client.Bidi(deadline: DateTime.UtcNow + (2 * s_timeout));
            var n = 0;
            while (!CallConnection.OnReaderThread && n < 10_000)
            {
                await first.RequestStream.WriteAsync(new Request { Text = "p" + n, Payload = Payloads.Of(64) });
                Assert.True(await first.ResponseStream.MoveNext(CancellationToken.None));
                n++;
            }
            var onReader = CallConnection.OnReaderThread;
            Assert.True(StuckWrite.ConnectionOf(channel).MaxClaimLength <= SmallRing / 4, "each block takes several records");
            // From the reader thread: many calls whose CallStart is larger than a record, each answered (on the server's
            // reader thread) with response headers larger than a record, nobody reading meanwhile: both rings fill.
            var calls = new List<AsyncDuplexStreamingCall<Request, Reply>>();
            for (var i = 0; i < 60; i++)
            {
                calls.Add(client.Bidi(headers, DateTime.UtcNow + (2 * s_timeout)));
            }
            foreach (var call in calls)
            {
                AssertSameBigEntries(headers, await call.ResponseHeadersAsync);
                await call.RequestStream.WriteAsync(new Request { Text = "x", Payload = Payloads.Of(64) });
                await call.RequestStream.CompleteAsync();
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
                Assert.Equal("x", call.ResponseStream.Current.Text);
                Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
                Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
                call.Dispose();
            }
            await first.RequestStream.CompleteAsync();
            while (await first.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
            return onReader;
        });
        var done = await Task.WhenAny(work, Task.Delay(s_timeout + s_timeout)) == work; // a watchdog, not synchronisation
        Assert.True(done, "60 calls with header blocks larger than a record, started from the client's reader thread against inline handlers, were still stuck");
        Assert.True(await work, "the calls never started on the client connection's reader thread: the case was not exercised");
    }

    /// <summary>
    /// The reader thread's deferred frames run the stall clock (round 18): an inline handler streaming to a client that reads
    /// nothing has its writes deferred on the server's reader thread; after the limit the connection closes, as for the
    /// sender's stall. Fails before: the deferred frames waited without a clock, the connection open for ever.
    /// </summary>
    [Fact]
    public async Task An_inline_handlers_deferred_writes_to_a_client_that_reads_nothing_run_the_stall_clock()
    {
        using var server = StartServer(fixture, "frames-deferred-stall", "inline-handlers", "stall-timeout-ms=1000");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var raw = RawClient.Connect(fixture, "frames-deferred-stall", s_timeout, out _);
        raw.Send(RawClient.CallStart(1, "ServerStream", new Request { Mode = "progress", Key = "frames-deferred", Count = int.MaxValue, Payload = Payloads.Of(64 * 1024) }));
        WaitFor.Condition(() => server.Output.Contains("the client read nothing of the responses for more than 1 s", StringComparison.Ordinal),
            "the server closed the stalled connection", timeout: s_timeout,
            diagnostics: () => $"written? {observer.Unary(new Request { Mode = "written?", Key = "frames-deferred" }, deadline: Deadline).Index}; server output: {server.Output}");
        var ended = await Task.Run(() =>
        {
            var buffer = new byte[4 << 20];
            try
            {
                while (raw.TryReceive(buffer, out _, s_timeout))
                {
                }
                return "still open";
            }
            catch (IicException e)
            {
                return e.GetType().Name;
            }
        }).WaitAsync(s_timeout + s_timeout);
        Assert.Equal(nameof(IicChannelClosedException), ended);
        Assert.Equal("after", (await observer.UnaryAsync(new Request { Text = "after" }, deadline: Deadline)).Text);
    }

    /// <summary>
    /// A call cancelled while its response headers, longer than a record, are half sent: the rest of them still goes (the
    /// receiver allows no frame between the pieces, so a frame cut short would end the connection for every call). A raw
    /// client that checks the wire: every frame after a continued one is a Continuation of the same stream until the last.
    /// Fails before the fix: the call's token ended the sender's wait for room and the next frame was another stream's.
    /// </summary>
    [Fact]
    public async Task A_call_cancelled_while_its_response_headers_are_half_sent_still_sends_them_whole()
    {
        using var server = StartServer(fixture, "frames-cut");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var raw = RawClient.Connect(fixture, "frames-cut", s_timeout, out _);
        // 1.5 MiB of request headers (echoed back as response headers: more than the 1 MiB ring holds), sent in pieces by hand.
        var headers = BigHeaders(1536 * 1024, 128 * 1024);
        SendInPieces(raw, CallStartWithHeaders(1, "Unary", new Request { Mode = "echo-metadata", Key = "frames-cut" }, headers));
        var buffer = new byte[4 << 20];
        // The first piece of the response headers: the server is mid-frame now, its sender waiting for room for the rest.
        Assert.True(raw.TryReceive(buffer, out var length, s_timeout), "no response headers");
        Assert.Equal((FrameType.ResponseHeaders, FrameFlags.Continued), ((FrameType)buffer[0], (FrameFlags)buffer[1]));
        // The client cancels the call, and opens another whose Trailers will follow.
        var cancel = new byte[Frame.HeaderLength];
        Frame.WriteHeader(cancel, FrameType.Cancel, FrameFlags.None, 1);
        raw.Send(cancel);
        WaitFor.Condition(() => observer.Unary(new Request { Mode = "cancelled?", Key = "frames-cut" }, deadline: Deadline).Text == "token", "the call's token fired");
        raw.Send(RawClient.CallStart(3, "Unary", new Request { Text = "after" }));
        var gathered = length - Frame.HeaderLength;
        var continued = true;
        while (true)
        {
            Assert.True(raw.TryReceive(buffer, out length, s_timeout), "the connection went quiet");
            var (type, flags, stream) = ((FrameType)buffer[0], (FrameFlags)buffer[1], BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(2)));
            if (continued)
            {
                Assert.True(type == FrameType.Continuation && stream == 1, $"a frame of type {type} for stream {stream} came between the pieces of stream 1's response headers after {gathered} bytes");
                gathered += length - Frame.HeaderLength;
                continued = (flags & FrameFlags.Continued) != 0;
                continue;
            }
            if (type == FrameType.Trailers && stream == 3)
            {
                break;
            }
        }
        Assert.True(gathered > 1536 * 1024, $"the response headers were {gathered} bytes");
    }

    /// <summary>Sends <paramref name="frame"/> as 2.9 says: the frame's header marked continued and its first bytes, then Continuation frames, one record each.</summary>
    private static void SendInPieces(IicChannel raw, byte[] frame)
    {
        var record = raw.MaxClaimLength;
        var streamId = BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(2));
        var first = frame.AsSpan(0, record).ToArray();
        first[1] |= (byte)FrameFlags.Continued;
        raw.Send(first);
        for (var at = record; at < frame.Length;)
        {
            var take = Math.Min(frame.Length - at, record - Frame.HeaderLength);
            var piece = new byte[Frame.HeaderLength + take];
            Frame.WriteHeader(piece, FrameType.Continuation, at + take < frame.Length ? FrameFlags.Continued : FrameFlags.None, streamId);
            frame.AsSpan(at, take).CopyTo(piece.AsSpan(Frame.HeaderLength));
            raw.Send(piece);
            at += take;
        }
    }
}
