using System.Buffers.Binary;
using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// Header blocks longer than one ring record (round 18, docs/grpc-call-protocol.md 2.9): a CallStart, ResponseHeaders or
/// Trailers frame whose metadata does not fit one record goes as that frame (flag Continued) and Continuation frames, each
/// one record, so no send waits for room holding a thread (the sender awaits room on the stall clock, the reader thread
/// hands such frames to it), and the gathered size is bounded by MaxMetadataSize on both sides.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ContinuationTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>64 KiB rings: one record holds 16 KiB, so a few KiB of metadata already takes several.</summary>
    private const int SmallRing = 64 * 1024;

    private static DateTime Deadline => DateTime.UtcNow + s_timeout;

    private GrpcServiceChannel Connect(ServerProcess server, int ringCapacity = SmallRing, bool inlineCompletions = false, int? maxMetadata = null)
    {
        var options = new GrpcServiceChannelOptions
        {
            Native =
            {
                Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory },
                ChannelOptions = new ChannelOptions { RingCapacity = ringCapacity },
                InlineCompletions = inlineCompletions,
            },
            MaxReceiveMessageSize = 16 * 1024 * 1024,
        };
        if (maxMetadata is { } max)
        {
            options.Native.MaxMetadataSize = max;
        }
        return GrpcServiceChannel.ForAddress(server.Address("iic://"), options);
    }

    private ServerProcess StartServer(string service, params string[] arguments)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", [fixture.HypervisorName, fixture.SocketDirectory, service, .. arguments]);

    /// <summary>Text and binary "big-*" entries of <paramref name="entryBytes"/> each, <paramref name="totalBytes"/> in all (about).</summary>
    internal static Metadata BigHeaders(int totalBytes, int entryBytes)
    {
        var headers = new Metadata();
        for (var i = 0; i * entryBytes < totalBytes; i++)
        {
            if (i % 2 == 0)
            {
                headers.Add($"big-{i}", new string((char)('a' + (i % 26)), entryBytes));
            }
            else
            {
                headers.Add($"big-{i}-bin", Enumerable.Range(0, entryBytes).Select(b => (byte)(b * 13 + i)).ToArray());
            }
        }
        return headers;
    }

    private static void AssertSameBigEntries(Metadata expected, Metadata actual)
    {
        var got = actual.Where(e => e.Key.StartsWith("big-", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Count, got.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, got[i].Key);
            if (expected[i].IsBinary)
            {
                Assert.Equal(expected[i].ValueBytes, got[i].ValueBytes);
            }
            else
            {
                Assert.Equal(expected[i].Value, got[i].Value);
            }
        }
    }

    /// <summary>Pins behaviour (passes before round 18 too): request headers, response headers and trailers of many records each round-trip exactly.</summary>
    [Theory]
    [InlineData(SmallRing, 100 * 1024, 3 * 1024)] // 16 KiB records: about seven pieces per block
    [InlineData(1024 * 1024, 700 * 1024, 200 * 1024)] // the default ring's 256 KiB records: three pieces, entries larger than a record
    public async Task Headers_and_trailers_larger_than_a_record_round_trip_exactly(int ringCapacity, int totalBytes, int entryBytes)
    {
        using var server = StartServer($"frames-roundtrip-{ringCapacity}");
        using var channel = Connect(server, ringCapacity);
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
        using var server = StartServer("frames-stall", "stall-timeout-ms=1000");
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
        using var server = StartServer("frames-inline", "inline-handlers");
        using var channel = Connect(server, SmallRing, inlineCompletions: true);
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
    /// A hostile client that continues a CallStart without end: the server gathers at most its limit, then closes the
    /// connection as a protocol error (logged), while another client's calls go on. Before round 18 the server closed it at
    /// the first Continuation (an unknown frame type) with another message; a whole frame that size was reassembled and read.
    /// </summary>
    [Fact]
    public async Task A_client_continuing_a_call_start_without_end_loses_its_connection_after_the_limit_and_others_go_on()
    {
        const int Limit = 64 * 1024;
        using var server = StartServer("frames-hostile", $"max-metadata={Limit}");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var raw = RawClient.Connect(fixture, "frames-hostile", s_timeout, out _);
        var piece = new byte[8 * 1024];
        var sent = await Task.Run(() =>
        {
            long sent = 0;
            try
            {
                // A CallStart marked continued (no message), then Continuation frames, each marked continued, for ever.
                piece[0] = (byte)FrameType.CallStart;
                piece[1] = (byte)FrameFlags.Continued;
                BinaryPrimitives.WriteUInt32LittleEndian(piece.AsSpan(2), 1);
                while (sent < 64L * 1024 * 1024)
                {
                    raw.Send(piece);
                    sent += piece.Length;
                    piece[0] = (byte)FrameType.Continuation;
                }
                return sent;
            }
            catch (IicException)
            {
                return sent;
            }
        }).WaitAsync(s_timeout + s_timeout);
        // Bounded: what the server took before it closed (its limit) and what the ring held, no more.
        Assert.True(sent <= Limit + (1024 * 1024) + piece.Length, $"the hostile client sent {sent} bytes before its connection closed");
        WaitFor.Condition(() => server.Output.Contains("over this side's limit of 65536 bytes", StringComparison.Ordinal),
            "the server logged the limit", timeout: s_timeout, diagnostics: () => server.Output);
        var reply = await observer.UnaryAsync(new Request { Text = "after" }, deadline: Deadline);
        Assert.Equal("after", reply.Text);
    }

    /// <summary>
    /// Request headers over the server's limit (round 19): the server announces its MaxMetadataSize in its Settings frame
    /// (2.8), so the client refuses such a call before anything is sent, ResourceExhausted naming the server's limit, and
    /// the connection with the other calls on it goes on. Fails before: the call went out, the server closed the connection
    /// as a protocol error, and it ended Unavailable together with every other call on that connection (the bidi stream
    /// here). The client's own, smaller limit refuses the same way, naming its own option.
    /// </summary>
    [Fact]
    public async Task Request_headers_over_the_servers_limit_are_refused_before_sending_and_other_calls_go_on()
    {
        const int Limit = 32 * 1024;
        using var server = StartServer("frames-over", $"max-metadata={Limit}");
        using var channel = Connect(server);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var bidi = client.Bidi(deadline: Deadline);
        await bidi.RequestStream.WriteAsync(new Request { Text = "before" });
        Assert.True(await bidi.ResponseStream.MoveNext());
        Assert.Equal("before", bidi.ResponseStream.Current.Text);

        var over = BigHeaders(48 * 1024, 4 * 1024);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new Request { Mode = "count", Key = "frames-over-server" }, over, Deadline));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains($"more than the {Limit} the server accepts", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("MaxMetadataSize", e.Status.Detail, StringComparison.Ordinal);
        // The call in flight on the same connection goes on, and the server never heard of the refused one.
        await bidi.RequestStream.WriteAsync(new Request { Text = "after" });
        Assert.True(await bidi.ResponseStream.MoveNext());
        Assert.Equal("after", bidi.ResponseStream.Current.Text);
        await bidi.RequestStream.CompleteAsync();
        Assert.False(await bidi.ResponseStream.MoveNext());
        Assert.Equal(-1, (await client.UnaryAsync(new Request { Mode = "written?", Key = "frames-over-server" }, deadline: Deadline)).Index);
        Assert.DoesNotContain("over this side's limit", server.Output, StringComparison.Ordinal);
        // Within the limit: served, on the same connection.
        var within = BigHeaders(24 * 1024, 4 * 1024);
        using (var call = client.UnaryAsync(new Request { Mode = "echo-metadata" }, within, Deadline))
        {
            AssertSameBigEntries(within, await call.ResponseHeadersAsync);
            Assert.Equal(within.Count, (await call.ResponseAsync).Index);
        }

        // The client's own, smaller limit: refused before it is sent, naming this side's option.
        using var limited = Connect(server, maxMetadata: 16 * 1024);
        var limitedClient = new Tester.TesterClient(limited.CallInvoker);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await limitedClient.UnaryAsync(new Request { Mode = "count", Key = "frames-over-refused" }, within, Deadline));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("this side sends", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("MaxMetadataSize", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(-1, (await limitedClient.UnaryAsync(new Request { Mode = "written?", Key = "frames-over-refused" }, deadline: Deadline)).Index);
        // And the connection is fine after it.
        Assert.Equal("ok", (await limitedClient.UnaryAsync(new Request { Text = "ok" }, deadline: Deadline)).Text);
    }

    /// <summary>A handler whose trailers are over the server's limit: the client gets ResourceExhausted saying so, and the connection goes on.</summary>
    [Fact]
    public async Task Trailers_over_the_servers_limit_end_the_call_ResourceExhausted()
    {
        using var server = StartServer("frames-trailers-over", "max-metadata=32768");
        using var channel = Connect(server);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new Request { Mode = "big-trailers", Key = "t-over", Count = 40_000 }, deadline: Deadline));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("trailers", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("ok", (await client.UnaryAsync(new Request { Text = "ok" }, deadline: Deadline)).Text);
    }

    /// <summary>
    /// The reader thread's deferred frames run the stall clock (round 18): an inline handler streaming to a client that reads
    /// nothing has its writes deferred on the server's reader thread; after the limit the connection closes, as for the
    /// sender's stall. Fails before: the deferred frames waited without a clock, the connection open for ever.
    /// </summary>
    [Fact]
    public async Task An_inline_handlers_deferred_writes_to_a_client_that_reads_nothing_run_the_stall_clock()
    {
        using var server = StartServer("frames-deferred-stall", "inline-handlers", "stall-timeout-ms=1000");
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
        using var server = StartServer("frames-cut");
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

    /// <summary>A CallStart carrying its one request (WithMessage, EndStream) and <paramref name="headers"/>, built by hand (2.1, 2.7).</summary>
    internal static byte[] CallStartWithHeaders(uint streamId, string method, Request request, Metadata headers)
    {
        var message = Google.Protobuf.MessageExtensions.ToByteArray(request);
        using var body = new MemoryStream();
        var writer = new BinaryWriter(body);
        writer.Write(new byte[Frame.HeaderLength]);
        writer.Write((uint)message.Length);
        writer.Write(message);
        writer.Write(-1L); // no deadline
        var name = System.Text.Encoding.UTF8.GetBytes($"/iic.testing.Tester/{method}");
        writer.Write((ushort)name.Length);
        writer.Write(name);
        writer.Write((ushort)headers.Count);
        foreach (var entry in headers)
        {
            writer.Write(entry.IsBinary ? (byte)1 : (byte)0);
            var key = System.Text.Encoding.ASCII.GetBytes(entry.Key);
            writer.Write((ushort)key.Length);
            writer.Write(key);
            var value = entry.IsBinary ? entry.ValueBytes : System.Text.Encoding.UTF8.GetBytes(entry.Value);
            writer.Write((uint)value.Length);
            writer.Write(value);
        }
        writer.Flush();
        var frame = body.ToArray();
        Frame.WriteHeader(frame, FrameType.CallStart, FrameFlags.WithMessage | FrameFlags.EndStream, streamId);
        return frame;
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

    /// <summary>
    /// An unknown method whose name fits the server's limit but whose Unimplemented detail (the name and a sentence) does not:
    /// the client still gets Unimplemented (the detail cut), and the connection goes on. Before the fix the send refused the
    /// detail on the server's reader thread, which closed the connection (Unavailable).
    /// </summary>
    [Fact]
    public async Task An_unknown_method_whose_name_nearly_fills_the_limit_is_answered_Unimplemented()
    {
        using var server = StartServer("frames-unimpl", "max-metadata=1024");
        using var channel = Connect(server);
        var marshaller = Marshallers.Create<Request>(static r => Google.Protobuf.MessageExtensions.ToByteArray(r), static b => Request.Parser.ParseFrom(b));
        var replies = Marshallers.Create<Reply>(static r => Google.Protobuf.MessageExtensions.ToByteArray(r), static b => Reply.Parser.ParseFrom(b));
        var method = new Method<Request, Reply>(MethodType.Unary, "x", new string('m', 990), marshaller, replies);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CallInvoker.AsyncUnaryCall(method, null, new CallOptions(deadline: Deadline), new Request()));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.EndsWith("...", e.Status.Detail, StringComparison.Ordinal);
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("ok", (await client.UnaryAsync(new Request { Text = "ok" }, deadline: Deadline)).Text);
        Assert.Single(((IIC.Grpc.Client.IicCallInvoker)channel.CallInvoker).OpenChannels); // the same connection
    }

    /// <summary>
    /// Response headers or trailers over the client's limit (round 22): the client announced its MaxMetadataSize in its
    /// ClientSettings frame, so the server refuses the block before anything of it is sent (WriteResponseHeadersAsync throws
    /// ResourceExhausted, which ends the handler with that status; trailers are replaced by ResourceExhausted), naming the
    /// client's option; the connection goes on: a bidi stream open on it meanwhile still echoes, and a call after it is
    /// served on the same connection. Round 19 to 21 (the server did not know the limit): the block was sent, and the
    /// client ended that call ResourceExhausted on receipt ("over this client's limit"); this failed there on the detail.
    /// 40,000 bytes on a 64 KiB ring (16 KiB records) are three pieces, and a 32 KiB limit is passed in the second; on a
    /// 1 MiB ring (256 KiB records) they are one whole frame over the limit.
    /// </summary>
    [Theory]
    [InlineData("big-trailers", SmallRing)]
    [InlineData("big-headers", SmallRing)]
    [InlineData("big-trailers", 1 << 20)]
    [InlineData("big-headers", 1 << 20)]
    public async Task A_header_block_over_the_clients_announced_limit_is_refused_by_the_server_and_the_connection_goes_on(string mode, int ringCapacity)
    {
        using var server = StartServer($"frames-client-limit-{mode}-{ringCapacity}");
        using var channel = Connect(server, ringCapacity, maxMetadata: 32 * 1024);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var bidi = client.Bidi(deadline: Deadline);
        await bidi.RequestStream.WriteAsync(new Request { Text = "before" });
        Assert.True(await bidi.ResponseStream.MoveNext());

        var key = "c-over-" + mode;
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new Request { Mode = mode, Key = key, Count = 40_000 }, deadline: Deadline));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        // The server's refusal (round 22: the client announced its limit), not the client's on receipt ("over this client's
        // limit of 32768 bytes", before): nothing of the block was sent, and the detail names the option to change.
        Assert.Contains("more than the 32768 the client accepts in one header block (its IicGrpcClientOptions.MaxMetadataSize", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(mode == "big-headers" ? "response headers" : "trailers", e.Status.Detail, StringComparison.Ordinal);
        await bidi.RequestStream.WriteAsync(new Request { Text = "after" });
        Assert.True(await bidi.ResponseStream.MoveNext());
        Assert.Equal("after", bidi.ResponseStream.Current.Text);
        await bidi.RequestStream.CompleteAsync();
        Assert.False(await bidi.ResponseStream.MoveNext());
        Assert.Equal("ok", (await client.UnaryAsync(new Request { Text = "ok" }, deadline: Deadline)).Text);
    }

    [Fact]
    public void The_limit_options_are_4_MiB_by_default_and_refuse_sizes_out_of_range_when_set()
    {
        var server = new IIC.Grpc.Server.IicGrpcServerOptions();
        var client = new IIC.Grpc.Client.IicGrpcClientOptions();
        Assert.Equal(4 * 1024 * 1024, server.MaxMetadataSize);
        Assert.Equal(4 * 1024 * 1024, client.MaxMetadataSize);
        server.MaxMetadataSize = 1024;
        client.MaxMetadataSize = 1 << 30;
        foreach (var bad in new[] { 0, -1, 1023, (1 << 30) + 1 })
        {
            Assert.Contains("1024 bytes to 1 GiB", Assert.Throws<ArgumentOutOfRangeException>(() => server.MaxMetadataSize = bad).Message, StringComparison.Ordinal);
            Assert.Contains("1024 bytes to 1 GiB", Assert.Throws<ArgumentOutOfRangeException>(() => client.MaxMetadataSize = bad).Message, StringComparison.Ordinal);
        }
        Assert.Equal((1024, 1 << 30), (server.MaxMetadataSize, client.MaxMetadataSize)); // unchanged
    }
}
