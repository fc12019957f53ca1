using Grpc.Core;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// Small differences from grpc-dotnet, checked on every path with the same code (http2-tcp is Grpc.Net.Client itself): a
/// deadline whose Kind is not UTC is refused with InvalidOperationException before anything is sent (the native path took
/// it as local time), and a disposed call's request stream throws ObjectDisposedException (the native path answered as for
/// a call that merely ended: WriteAsync with a Cancelled RpcException, CompleteAsync with nothing).
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class GrpcDotnetParityTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task A_deadline_whose_kind_is_not_utc_is_refused_before_the_call_starts(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var local = DateTime.Now + s_timeout;
        var unspecified = DateTime.SpecifyKind(DateTime.UtcNow + s_timeout, DateTimeKind.Unspecified);
        foreach (var deadline in new[] { local, unspecified })
        {
            var e = Assert.Throws<InvalidOperationException>(() => client.UnaryAsync(new Request { Text = "local" }, deadline: deadline));
            Assert.Contains("DateTimeKind.Utc", e.Message, StringComparison.Ordinal);
            Assert.Throws<InvalidOperationException>(() => client.ServerStream(new Request { Count = 1 }, deadline: deadline));
            Assert.Throws<InvalidOperationException>(() => client.ClientStream(deadline: deadline));
            Assert.Throws<InvalidOperationException>(() => client.Bidi(deadline: deadline));
        }
        // MaxValue (no deadline) is taken whatever its kind; the channel serves on.
        Assert.Equal("max", (await client.UnaryAsync(new Request { Text = "max" }, deadline: DateTime.MaxValue)).Text);
        Assert.Equal("utc", (await client.UnaryAsync(new Request { Text = "utc" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task A_disposed_calls_request_stream_throws_ObjectDisposedException(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var bidi = client.Bidi(deadline: DateTime.UtcNow + s_timeout);
        await bidi.RequestStream.WriteAsync(new Request { Text = "one" });
        Assert.True(await bidi.ResponseStream.MoveNext(CancellationToken.None));
        bidi.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => bidi.RequestStream.WriteAsync(new Request { Text = "two" }));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => bidi.RequestStream.CompleteAsync());

        // Disposed after it completed: the same (the native path's CompleteAsync did nothing, silently).
        var done = client.ClientStream(deadline: DateTime.UtcNow + s_timeout);
        await done.RequestStream.WriteAsync(new Request { Text = "one", Count = 1 });
        await done.RequestStream.CompleteAsync();
        Assert.Equal(1, (await done.ResponseAsync).Index);
        done.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => done.RequestStream.CompleteAsync());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => done.RequestStream.WriteAsync(new Request { Text = "late" }));
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }

    /// <summary>
    /// WriteAsync with a token, as Grpc.Net.Client takes it: a live token lets the write go (the native path threw
    /// NotSupportedException, the interface's default, for any token that can be cancelled); a cancelled one cancels the call.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task A_client_write_takes_a_cancellation_token_which_cancels_the_call(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var source = new CancellationTokenSource();
        using var call = client.Bidi(deadline: DateTime.UtcNow + s_timeout);
        await call.RequestStream.WriteAsync(new Request { Text = "one" }, source.Token);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal("one", call.ResponseStream.Current.Text);
        await source.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(new Request { Text = "two" }, source.Token));
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None))).StatusCode);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }

    /// <summary>
    /// A handler's WriteAsync with a token of its own, as Grpc.AspNetCore takes it: a live token lets the write go, a cancelled
    /// one fails the write with OperationCanceledException and cancels the call (Grpc.AspNetCore resets the stream), so the
    /// client gets Cancelled. The native path threw NotSupportedException (the interface's default) for any token that can be
    /// cancelled, and its client got Unknown.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task A_handler_write_takes_a_cancellation_token_which_cancels_the_call(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = $"write-token-{path}-{Guid.NewGuid():N}";
        using var call = client.ServerStream(new Request { Mode = "write-token", Key = key }, deadline: DateTime.UtcNow + s_timeout);
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                Assert.Equal(0, call.ResponseStream.Current.Index); // the reset may overtake it on HTTP/2; the second never comes
            }
        });
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        // The handler noted both writes before it rethrew (over HTTP/2 the reset reaches the client before that: ask until it is there).
        var deadline = DateTime.UtcNow + s_timeout;
        string outcome;
        while ((outcome = (await client.UnaryAsync(new Request { Mode = "outcome?", Key = key }, deadline: deadline)).Text).Length == 0)
        {
        }
        Assert.Equal("first=ok second=cancelled", outcome);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_timeout)).Text);
    }
}
