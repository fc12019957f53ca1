using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A call started with a token already cancelled ends Cancelled without reaching the server, as in grpc-dotnet (whose
/// HttpClient sends nothing for a cancelled token), like a call whose deadline already passed. (The native path sent
/// CallStart, with the request, and then Cancel: the server opened the call and could run its handler.) What the client
/// sent is counted on its channel: nothing, for every call shape.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class PreCancelledCallTests(TesterFixture fixture)
{
    [Fact]
    public async Task A_call_started_with_a_cancelled_token_ends_Cancelled_and_sends_nothing()
    {
        using var channel = fixture.Open("native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var connection = Assert.Single(((IicCallInvoker)channel.CallInvoker).OpenChannels);
        var sentBefore = connection.GetStatistics().MessagesSent;
        using var source = new CancellationTokenSource();
        await source.CancelAsync();
        var token = source.Token;

        using (var unary = client.UnaryAsync(new Request { Mode = "wait", Key = "pre-cancelled" }, cancellationToken: token))
        {
            await AssertCancelled(unary.ResponseAsync);
            Assert.Equal(StatusCode.Cancelled, unary.GetStatus().StatusCode);
        }
        using (var server = client.ServerStream(new Request { Count = 3 }, cancellationToken: token))
        {
            await AssertCancelled(server.ResponseStream.MoveNext(CancellationToken.None));
        }
        using (var clientStream = client.ClientStream(cancellationToken: token))
        {
            await AssertCancelled(clientStream.ResponseAsync);
        }
        using (var bidi = client.Bidi(cancellationToken: token))
        {
            await AssertCancelled(bidi.ResponseStream.MoveNext(CancellationToken.None));
        }
        Assert.Equal(sentBefore, connection.GetStatistics().MessagesSent);
        Assert.Equal("still", (await client.UnaryAsync(new Request { Text = "still" })).Text);
    }

    private static async Task AssertCancelled(Task task)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => task);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
    }
}
