using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// The server's limit on one header block, announced in its Settings frame (round 19, docs/grpc-call-protocol.md 2.8):
/// the client refuses request headers over it before anything is sent, instead of sending them and losing the connection
/// to the server's protocol error; a server of round 18 (no such field) is served as before; a limit below the protocol's
/// least is a broken server. The server is a <see cref="RawServer"/>, so the test chooses the Settings frame byte by byte
/// and sees every frame the client sends.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class AnnouncedHeaderLimitTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>A client of <paramref name="service"/>, with its own header limit when <paramref name="maxMetadataSize"/> is given.</summary>
    private IicCallInvoker Invoker(string service, int? maxMetadataSize = null)
    {
        var options = new IicGrpcClientOptions
        {
            Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory, ConnectTimeout = s_timeout },
        };
        if (maxMetadataSize is { } limit)
        {
            options.MaxMetadataSize = limit;
        }
        return new(service, options);
    }

    private static Metadata Headers(int bytes) => new() { { "big", new string('h', bytes) } };

    /// <summary>Fails before round 19: the client ignored the field and sent the call (the raw server read its CallStart first).</summary>
    [Fact]
    public async Task Request_headers_over_the_announced_limit_are_refused_and_never_sent()
    {
        using var server = new RawServer(fixture, "announced-limit");
        using var invoker = Invoker("announced-limit");
        var client = new Tester.TesterClient(invoker);
        using var first = client.UnaryAsync(new Request { Text = "connects" });
        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        server.SendSettings(0, maxCalls: 100, maxHeaderBlock: 2048);
        Assert.Equal(FrameType.CallStart, server.ReceiveFrame(0, s_timeout).Type);

        var e = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(new Request { Text = "over" }, Headers(4096)).ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("more than the 2048 the server accepts", e.Status.Detail, StringComparison.Ordinal);
        using var within = client.UnaryAsync(new Request { Text = "within" }, Headers(512));
        // The next frame the server reads is the call within the limit: the refused one sent nothing.
        Assert.Equal("within", server.ReceiveCallStart(0, s_timeout).Request!.Text);
        Assert.False(within.ResponseAsync.IsCompleted); // still open on the same connection: nothing ended it
        Assert.Equal(1, server.Accepted);
    }

    /// <summary>Pins behaviour: a server that announces no header limit (round 18's Settings frame) gets the call as before.</summary>
    [Fact]
    public void A_server_of_round_18_announcing_no_header_limit_is_sent_large_request_headers()
    {
        using var server = new RawServer(fixture, "unannounced-limit", settingsOnAccept: 100);
        using var invoker = Invoker("unannounced-limit");
        var client = new Tester.TesterClient(invoker);
        using var call = client.UnaryAsync(new Request { Text = "big" }, Headers(8192));
        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        Assert.Equal(FrameType.CallStart, server.ReceiveFrame(0, s_timeout).Type);
    }

    /// <summary>
    /// A server whose Settings frame says it reads ClientSettings (round 22) gets the client's limit first: the client's
    /// first frame is ClientSettings with its MaxMetadataSize, byte for byte as docs/grpc-call-protocol.md 2.8 shows it,
    /// and the call's CallStart follows. An earlier server (no such option) is sent none: the tests above read a CallStart
    /// first. Fails before round 22: the client's first frame was the CallStart.
    /// </summary>
    [Fact]
    public void A_client_announces_its_header_limit_first_to_a_server_that_reads_ClientSettings()
    {
        using var server = new RawServer(fixture, "client-announces");
        using var invoker = Invoker("client-announces", maxMetadataSize: 20_000);
        var client = new Tester.TesterClient(invoker);
        using var call = client.UnaryAsync(new Request { Text = "after" });
        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        server.SendSettings(0, maxCalls: 100, maxHeaderBlock: 4 * 1024 * 1024, readsClientSettings: true);
        Assert.Equal(Convert.FromHexString("0A0000000000204E0000"), server.ReceiveFrameBytes(0, s_timeout)); // 20,000 = 0x4E20
        Assert.Equal("after", server.ReceiveCallStart(0, s_timeout).Request!.Text);
    }

    /// <summary>
    /// Pins behaviour: a server of rounds 19 to 21 (its Settings frame has no options: it reads no ClientSettings) does not
    /// know the client's limit, and response headers over it end that call ResourceExhausted on receipt, as in round 19;
    /// the client cancels it, and the connection goes on. (With a server that reads ClientSettings, the server refuses
    /// them first: ContinuationTests.)
    /// </summary>
    [Fact]
    public async Task Response_headers_over_the_clients_limit_from_an_earlier_server_end_that_call_on_receipt()
    {
        using var server = new RawServer(fixture, "unannounced-client-limit");
        using var invoker = Invoker("unannounced-client-limit", maxMetadataSize: 2048);
        var client = new Tester.TesterClient(invoker);
        using var call = client.UnaryAsync(new Request { Text = "big" });
        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        server.SendSettings(0, maxCalls: 100, maxHeaderBlock: 4 * 1024 * 1024);
        var (id, request) = server.ReceiveCallStart(0, s_timeout); // the first frame: no ClientSettings to this server
        Assert.Equal("big", request!.Text);
        server.SendResponseHeaders(0, id, Headers(4096));
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("over this client's limit of 2048 bytes", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal((FrameType.Cancel, id), server.ReceiveFrame(0, s_timeout));

        using var next = client.UnaryAsync(new Request { Text = "next" });
        var (nextId, nextRequest) = server.ReceiveCallStart(0, s_timeout);
        Assert.Equal("next", nextRequest!.Text);
        server.SendReply(0, nextId, new Reply { Text = "next" });
        Assert.Equal("next", (await next.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task A_server_announcing_a_limit_below_the_least_is_broken_and_the_call_ends_Unavailable()
    {
        using var server = new RawServer(fixture, "broken-limit");
        using var invoker = Invoker("broken-limit");
        var client = new Tester.TesterClient(invoker);
        using var call = client.UnaryAsync(new Request { Text = "never" });
        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        server.SendSettings(0, maxCalls: 100, maxHeaderBlock: 100);
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.True(e.Status.Detail.Contains("announced a limit of 100 bytes for one header block", StringComparison.Ordinal), e.Status.Detail);
    }
}
