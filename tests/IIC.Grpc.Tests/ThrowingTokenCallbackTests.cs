using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A handler's callback on its call's token that throws when the client cancels does not take the server down: the
/// native server cancelled the token on a pool thread, where the AggregateException of Cancel killed the process (every
/// call of every client with it). Now it is logged, the handler's wait ends, and the server serves on.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ThrowingTokenCallbackTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_token_callback_that_throws_when_the_client_cancels_does_not_kill_the_server()
    {
        using var server = fixture.StartServer("throwing-token-callback");
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = "throwing-callback-" + Guid.NewGuid();
        using var source = new CancellationTokenSource();
        using var call = client.UnaryAsync(new Request { Mode = "throwing-callback", Key = key }, cancellationToken: source.Token);
        var end = DateTime.UtcNow + s_timeout;
        while ((await client.UnaryAsync(new Request { Mode = "written?", Key = key }, deadline: end)).Index != 1)
        {
        }
        await source.CancelAsync();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync)).StatusCode);
        var alive = await Record.ExceptionAsync(async () =>
        {
            while (!(await client.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: end)).Flag)
            {
            }
        });
        Assert.True(alive is null, $"the server did not serve on after the callback threw: {alive}{Environment.NewLine}server output:{Environment.NewLine}{server.Output}");
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }
}
