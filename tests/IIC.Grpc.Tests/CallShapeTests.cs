using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>Every call shape, headers and trailers, per-call DI scopes: the same code over the native path and HTTP/2 TCP.</summary>
[Collection(TesterGroup.Name)]
public sealed class CallShapeTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Unary_EchoesWithHeadersAndTrailers(string path)
    {
        using var channel = fixture.Open(path);
        Assert.Equal(path != "http2-tcp", channel.IsNative);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.UnaryAsync(new Request { Text = "hi", Payload = ByteString.CopyFromUtf8("abc") },
            new Metadata { { "x-test", "header-value" } }, DateTime.UtcNow + s_timeout);
        var reply = await call.ResponseAsync;
        Assert.Equal("hi", reply.Text);
        Assert.Equal("abc", reply.Payload.ToStringUtf8());
        Assert.Equal("header-value", (await call.ResponseHeadersAsync).GetValue("echo-header"));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        var trailers = call.GetTrailers();
        Assert.Equal("trailer-value", trailers.GetValue("trailer-key"));
        Assert.Equal(new byte[] { 1, 2, 3 }, trailers.GetValueBytes("trailer-bin"));
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Unary_RequestHeadersAreEachCallsOwn(string path)
    {
        // The native server hands a call without headers the shared read-only empty set and makes a writable one only
        // when the handler asks: a handler must still be able to add to it, and nothing may carry over to the next call.
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var first = await client.UnaryAsync(new Request { Mode = "own-headers", Text = "first" }, deadline: DateTime.UtcNow + s_timeout);
        var second = await client.UnaryAsync(new Request { Mode = "own-headers", Text = "second" }, deadline: DateTime.UtcNow + s_timeout);
        var withHeader = await client.UnaryAsync(new Request { Mode = "own-headers", Text = "third" },
            new Metadata { { "x-sent", "1" } }, DateTime.UtcNow + s_timeout);
        var after = await client.UnaryAsync(new Request { Mode = "own-headers", Text = "fourth" }, deadline: DateTime.UtcNow + s_timeout);
        Assert.Equal(["first", "second", "third", "fourth"], new[] { first.Text, second.Text, withHeader.Text, after.Text });
        Assert.False(first.Flag || second.Flag || withHeader.Flag || after.Flag, "a handler saw an entry another call's handler added");
        Assert.Equal(first.Index, second.Index);
        Assert.Equal(first.Index + 1, withHeader.Index);
        Assert.Equal(first.Index, after.Index);
        if (channel.IsNative)
        {
            Assert.Equal(0, first.Index); // exactly what the client sent: nothing
        }
    }

    [Theory]
    [InlineData("native")]
    [InlineData("native-inline")]
    public async Task Unary_NativeCallTakesOneFrameEachWay(string path)
    {
        // A small request rides in CallStart and the reply in Trailers (FrameFlags.WithMessage): one channel message each
        // way, so a sleeping peer is woken once per direction. Counted on the client's channel, not timed.
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: DateTime.UtcNow + s_timeout)).Text);
        const int Calls = 50;
        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal("c" + i, (await client.UnaryAsync(new Request { Text = "c" + i }, deadline: DateTime.UtcNow + s_timeout)).Text);
        }
        // The channel is this invoker's own, opened by the first call; the reader counts a frame after handing it over,
        // so wait for the last count, then check that nothing more was sent either way.
        var connection = Assert.Single(((IIC.Grpc.Client.IicCallInvoker)channel.CallInvoker).OpenChannels);
        var deadline = DateTime.UtcNow + s_timeout;
        const int SettingsFrames = 1; // the server's first frame on every connection (docs/grpc-call-protocol.md 2.8)
        const int ClientSettingsFrames = 1; // the client's first frame to a server that reads it (round 22, 2.8)
        while (connection.GetStatistics().MessagesReceived < Calls + 1 + SettingsFrames && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        var statistics = connection.GetStatistics();
        Assert.Equal(Calls + 1 + ClientSettingsFrames, statistics.MessagesSent);
        Assert.Equal(Calls + 1 + SettingsFrames, statistics.MessagesReceived);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Unary_EachCallRunsInItsOwnDiScope(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var first = await client.UnaryAsync(new Request { Text = "a" }, deadline: DateTime.UtcNow + s_timeout);
        var second = await client.UnaryAsync(new Request { Text = "b" }, deadline: DateTime.UtcNow + s_timeout);
        Assert.False(string.IsNullOrEmpty(first.Scope));
        Assert.NotEqual(first.Scope, second.Scope);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Unary_Blocking_Works(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var reply = await Task.Run(() => client.Unary(new Request { Text = "blocking" }, deadline: DateTime.UtcNow + s_timeout));
        Assert.Equal("blocking", reply.Text);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ServerStreaming_DeliversEveryMessageInOrder(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.ServerStream(new Request { Count = 500, Payload = ByteString.CopyFromUtf8("p") }, deadline: DateTime.UtcNow + s_timeout);
        var expected = 0;
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(expected++, reply.Index);
            Assert.Equal("p", reply.Payload.ToStringUtf8());
        }
        Assert.Equal(500, expected);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ClientStreaming_SeesEveryMessage(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.ClientStream(deadline: DateTime.UtcNow + s_timeout);
        for (var i = 1; i <= 100; i++)
        {
            await call.RequestStream.WriteAsync(new Request { Count = i, Text = i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        await call.RequestStream.CompleteAsync();
        var reply = await call.ResponseAsync;
        Assert.Equal(5050, reply.Index);
        Assert.StartsWith("1,2,3,", reply.Text, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Bidi_PingPongsInOrder(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.Bidi(deadline: DateTime.UtcNow + s_timeout);
        for (var i = 0; i < 200; i++)
        {
            await call.RequestStream.WriteAsync(new Request { Text = "ping" + i });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal("ping" + i, call.ResponseStream.Current.Text);
            Assert.Equal(i, call.ResponseStream.Current.Index);
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }
}
