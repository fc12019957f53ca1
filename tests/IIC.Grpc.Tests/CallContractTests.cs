using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// The word a call keeps when driven carelessly from outside, on the native path and (for comparison) grpc-dotnet over
/// HTTP/2: status and trailers are refused before the call ended; a write after the request stream completed is refused;
/// a call disposed from another thread while its response or next message is awaited ends those waits with
/// <c>Cancelled</c>, and reads after it fail the same way; a channel disposed under calls in flight ends them promptly.
/// Waits are on the states asserted; the watchdog only turns a hang into a failure.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class CallContractTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task Status_and_trailers_before_the_end_are_refused_and_Dispose_from_another_thread_ends_a_waiting_response_Cancelled(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var call = client.UnaryAsync(new Request { Mode = "wait", Key = $"contract-unary-{path}-{Guid.NewGuid():N}" });
        // Its handler waits for cancellation: the call cannot end before the Dispose below.
        Assert.Throws<InvalidOperationException>(() => call.GetStatus());
        Assert.Throws<InvalidOperationException>(() => call.GetTrailers());
        await Task.Run(call.Dispose);
        var e = await Assert.ThrowsAsync<RpcException>(() => Within(call.ResponseAsync));
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
    }

    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task A_write_after_complete_is_refused_and_Dispose_from_another_thread_ends_a_waiting_MoveNext_Cancelled(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var call = client.Bidi();
        await call.RequestStream.WriteAsync(new Request { Text = "one" });
        Assert.True(await Within(call.ResponseStream.MoveNext(CancellationToken.None)));
        await call.RequestStream.CompleteAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => call.RequestStream.WriteAsync(new Request { Text = "late" }));
        // The server's handler ended its loop when the requests ended; what is left is the end of the stream. A MoveNext
        // that already has its answer is no test of Dispose: a fresh call then, waiting for a reply that never comes.
        var waiting = client.Bidi();
        await waiting.RequestStream.WriteAsync(new Request { Mode = "wait", Key = $"contract-bidi-{path}-{Guid.NewGuid():N}" });
        var next = waiting.ResponseStream.MoveNext(CancellationToken.None);
        await Task.Run(waiting.Dispose);
        var e = await Assert.ThrowsAsync<RpcException>(() => Within(next));
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        // A read after Dispose: the call is disposed, on every path (grpc-dotnet's HttpContentClientStreamReader.MoveNext).
        var again = await Record.ExceptionAsync(() => Within(waiting.ResponseStream.MoveNext(CancellationToken.None)));
        Assert.IsType<ObjectDisposedException>(again);
        call.Dispose();
    }

    [Fact]
    public async Task Disposing_the_channel_ends_every_call_in_flight_promptly_as_Unavailable()
    {
        var channel = fixture.Open("native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var unary = client.UnaryAsync(new Request { Mode = "wait", Key = $"contract-dispose-{Guid.NewGuid():N}" });
        var bidi = client.Bidi();
        await bidi.RequestStream.WriteAsync(new Request { Text = "one" });
        Assert.True(await Within(bidi.ResponseStream.MoveNext(CancellationToken.None)));
        var next = bidi.ResponseStream.MoveNext(CancellationToken.None);
        await Task.Run(channel.Dispose);
        var e1 = await Assert.ThrowsAsync<RpcException>(() => Within(unary.ResponseAsync));
        var e2 = await Assert.ThrowsAsync<RpcException>(() => Within(next));
        Assert.Equal(StatusCode.Unavailable, e1.StatusCode);
        Assert.Equal(StatusCode.Unavailable, e2.StatusCode);
        var after = await Assert.ThrowsAsync<RpcException>(() => Within(client.UnaryAsync(new Request { Text = "after" }).ResponseAsync));
        Assert.Equal(StatusCode.Unavailable, after.StatusCode);
    }

    /// <summary>The task, or a failure naming the hang once the watchdog passed.</summary>
    private static async Task<T> Within<T>(Task<T> task)
    {
        if (await Task.WhenAny(task, Task.Delay(s_stuck)) != task)
        {
            Assert.Fail($"still waiting after {s_stuck.TotalSeconds} s");
        }
        return await task;
    }
}
