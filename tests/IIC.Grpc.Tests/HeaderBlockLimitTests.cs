using System.Buffers.Binary;
using Grpc.Core;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;
using static IIC.Grpc.Tests.HeaderBlocks;

namespace IIC.Grpc.Tests;

/// <summary>
/// The bounds on one header block (MaxMetadataSize; rounds 18, 19 and 22; docs/grpc-call-protocol.md 2.8 and 2.9): what a
/// side gathers of a block sent in pieces is bounded by its limit, each side announces its limit and the other refuses a
/// block over it before anything of it is sent, and the connection with its other calls goes on. The pieces themselves
/// are ContinuationTests'.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class HeaderBlockLimitTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = HeaderBlocks.Timeout;

    /// <summary>
    /// A hostile client that continues a CallStart without end: the server gathers at most its limit, then closes the
    /// connection as a protocol error (logged), while another client's calls go on. Before round 18 the server closed it at
    /// the first Continuation (an unknown frame type) with another message; a whole frame that size was reassembled and read.
    /// </summary>
    [Fact]
    public async Task A_client_continuing_a_call_start_without_end_loses_its_connection_after_the_limit_and_others_go_on()
    {
        const int Limit = 64 * 1024;
        using var server = StartServer(fixture, "frames-hostile", $"max-metadata={Limit}");
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
        using var server = StartServer(fixture, "frames-over", $"max-metadata={Limit}");
        using var channel = Connect(fixture, server);
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
        using var limited = Connect(fixture, server, maxMetadata: 16 * 1024);
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
        using var server = StartServer(fixture, "frames-trailers-over", "max-metadata=32768");
        using var channel = Connect(fixture, server);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new Request { Mode = "big-trailers", Key = "t-over", Count = 40_000 }, deadline: Deadline));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("trailers", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("ok", (await client.UnaryAsync(new Request { Text = "ok" }, deadline: Deadline)).Text);
    }

    /// <summary>
    /// An unknown method whose name fits the server's limit but whose Unimplemented detail (the name and a sentence) does not:
    /// the client still gets Unimplemented (the detail cut), and the connection goes on. Before the fix the send refused the
    /// detail on the server's reader thread, which closed the connection (Unavailable).
    /// </summary>
    [Fact]
    public async Task An_unknown_method_whose_name_nearly_fills_the_limit_is_answered_Unimplemented()
    {
        using var server = StartServer(fixture, "frames-unimpl", "max-metadata=1024");
        using var channel = Connect(fixture, server);
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
        using var server = StartServer(fixture, $"frames-client-limit-{mode}-{ringCapacity}");
        using var channel = Connect(fixture, server, ringCapacity, maxMetadata: 32 * 1024);
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
