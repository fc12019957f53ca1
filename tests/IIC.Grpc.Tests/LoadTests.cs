using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>Many concurrent calls multiplexed over few channels, a 4 MB message among small calls, message size limits.</summary>
[Collection(TesterGroup.Name)]
public sealed class LoadTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task SixtyFourConcurrentCalls_AllComplete(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var deadline = DateTime.UtcNow + s_timeout;
        var calls = Enumerable.Range(0, 64).Select(async i =>
        {
            if (i % 2 == 0)
            {
                var reply = await client.UnaryAsync(new Request { Text = "call" + i }, deadline: deadline);
                Assert.Equal("call" + i, reply.Text);
                return;
            }
            using var call = client.Bidi(deadline: deadline);
            for (var j = 0; j < 20; j++)
            {
                await call.RequestStream.WriteAsync(new Request { Text = $"{i}.{j}" });
                Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
                Assert.Equal($"{i}.{j}", call.ResponseStream.Current.Text);
            }
            await call.RequestStream.CompleteAsync();
            Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        }).ToArray();
        await Task.WhenAll(calls);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task FourMegabyteMessage_RoundTripsWhileSmallCallsGoOn(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var payload = Payloads.Of(4 * 1024 * 1024);
        var deadline = DateTime.UtcNow + s_timeout;
        var big = client.UnaryAsync(new Request { Text = "big", Payload = payload }, deadline: deadline).ResponseAsync;
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("small" + i, (await client.UnaryAsync(new Request { Text = "small" + i }, deadline: deadline)).Text);
        }
        var reply = await big;
        Assert.Equal(payload.Length, reply.Payload.Length);
        Assert.True(payload.Span.SequenceEqual(reply.Payload.Span), "The 4 MB payload came back changed.");
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ReplyAboveClientLimit_IsResourceExhausted_AndTheChannelStaysUsable(string path)
    {
        using var channel = fixture.Open(path, maxReceive: 64 * 1024);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(
            new Request { Payload = Payloads.Of(256 * 1024) }, deadline: DateTime.UtcNow + s_timeout));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal("still here", (await client.UnaryAsync(new Request { Text = "still here" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task RequestAboveServerLimit_IsResourceExhausted(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(
            new Request { Payload = ByteString.CopyFrom(new byte[TesterFixture.MaxMessage + 1]) }, deadline: DateTime.UtcNow + s_timeout));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }
}
