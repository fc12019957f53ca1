using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// A server running handlers inline whose service needs no DI scope ends unary calls without an async state machine
/// when the handler's task is already complete (ServerCall.RunUnary), and through the asynchronous rest otherwise. Every
/// way a handler can end must reach the client as it does on the general path: reply, trailers, handler-set status,
/// RpcException thrown or in a faulted task, other exceptions, a null reply, a handler that completes later; and the
/// connection serves the next call after each. Across processes (tests/IIC.Grpc.TestServer, StatelessTesterService).
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class InlineUnaryTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_way_a_synchronous_or_later_handler_ends_reaches_the_client(bool inlineCompletions)
    {
        using var server = fixture.StartStatelessServer($"stateless-{inlineCompletions}");
        using var channel = fixture.Connect(server.Address("iic://"), inlineCompletions: inlineCompletions);
        var client = new Tester.TesterClient(channel.CallInvoker);
        for (var round = 0; round < 3; round++) // each ending leaves the connection ready for the next call
        {
            // A reply: payload, the handler's trailers, the request headers it saw.
            var payload = Payloads.Of(40 + round);
            var call = client.UnaryAsync(new Request { Text = "echo" + round, Payload = payload },
                new Metadata { { "a", "1" }, { "b", "2" } }, DateTime.UtcNow + s_timeout);
            var reply = await call;
            Assert.Equal("echo" + round, reply.Text);
            Assert.True(payload.Span.SequenceEqual(reply.Payload.Span), "the reply's payload came back changed");
            Assert.Equal(2, reply.Index);
            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
            Assert.Equal("trailer-value", call.GetTrailers().GetValue("trailer-key"));

            // An RpcException thrown by the handler before it made a task, and one in a task that already failed.
            foreach (var (mode, why) in new[] { ("fail", "thrown"), ("fail-task", "faulted") })
            {
                var failed = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(
                    new Request { Mode = mode, Status = (int)StatusCode.FailedPrecondition, Text = mode + " detail" }, deadline: DateTime.UtcNow + s_timeout).ResponseAsync);
                Assert.Equal(StatusCode.FailedPrecondition, failed.StatusCode);
                Assert.Equal(mode + " detail", failed.Status.Detail);
                Assert.Equal(why, failed.Trailers.GetValue("why"));
            }

            // Any other exception, and a null reply: Unknown.
            foreach (var mode in new[] { "crash", "null" })
            {
                var crashed = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(new Request { Mode = mode }, deadline: DateTime.UtcNow + s_timeout).ResponseAsync);
                Assert.Equal(StatusCode.Unknown, crashed.StatusCode);
            }

            // A status the handler set itself, with a reply: the status wins.
            var set = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(
                new Request { Mode = "status", Status = (int)StatusCode.NotFound, Text = "not here" }, deadline: DateTime.UtcNow + s_timeout).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, set.StatusCode);
            Assert.Equal("not here", set.Status.Detail);

            // A handler whose task completes after it returned: the asynchronous rest sends reply and trailers.
            var later = client.UnaryAsync(new Request { Mode = "later", Text = "later" + round, Payload = payload }, deadline: DateTime.UtcNow + s_timeout);
            Assert.Equal("later" + round, (await later).Text);
            Assert.Equal("later", later.GetTrailers().GetValue("trailer-key"));
        }
    }

    [Fact]
    public async Task Concurrent_synchronous_calls_each_get_their_own_reply()
    {
        using var server = fixture.StartStatelessServer("stateless-concurrent");
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        var calls = Enumerable.Range(0, 64).Select(async i =>
        {
            for (var j = 0; j < 20; j++)
            {
                var text = $"{i}/{j}";
                var reply = await client.UnaryAsync(new Request { Text = text, Mode = j % 5 == 4 ? "later" : "" }, deadline: DateTime.UtcNow + s_timeout);
                Assert.Equal(text, reply.Text);
            }
        });
        await Task.WhenAll(calls);
    }
}
