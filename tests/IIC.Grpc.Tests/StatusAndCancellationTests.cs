using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>Status codes, trailers on failure, deadlines, cancellation from either side, interceptors.</summary>
[Collection(TesterGroup.Name)]
public sealed class StatusAndCancellationTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ServerError_ArrivesAsRpcExceptionWithStatusAndTrailers(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        foreach (var code in new[] { StatusCode.NotFound, StatusCode.PermissionDenied, StatusCode.FailedPrecondition })
        {
            var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(
                new Request { Mode = "fail", Status = (int)code, Text = "no " + code }, deadline: DateTime.UtcNow + s_timeout));
            Assert.Equal(code, e.StatusCode);
            Assert.Equal("no " + code, e.Status.Detail);
            Assert.Equal("because", e.Trailers.GetValue("why"));
        }
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Deadline_Expires_ClientGetsDeadlineExceeded_ServerIsCancelled(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        await client.UnaryAsync(new Request(), deadline: DateTime.UtcNow + s_timeout); // connected: the deadline below is the handler's alone
        var key = $"deadline-{path}-{Guid.NewGuid():N}";
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(
            new Request { Mode = "wait", Key = key }, deadline: DateTime.UtcNow.AddSeconds(1)));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        await AssertServerCancelledAsync(client, key);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ClientCancels_ClientGetsCancelled_ServerIsCancelled(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = $"cancel-{path}-{Guid.NewGuid():N}";
        using var cancellation = new CancellationTokenSource();
        using var call = client.ServerStream(new Request { Mode = "forever", Count = 1, Key = key }, cancellationToken: cancellation.Token);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None)); // the handler is running
        await cancellation.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        await AssertServerCancelledAsync(client, key);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task ServerCancels_ClientGetsCancelledAfterTheMessagesBefore(string path)
    {
        using var channel = fixture.Open(path);
        var client = new Tester.TesterClient(channel.CallInvoker);
        using var call = client.ServerStream(new Request { Mode = "server-cancel", Count = 3 }, deadline: DateTime.UtcNow + s_timeout);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        }
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal("the server cancelled", e.Status.Detail);
    }

    [Theory]
    [MemberData(nameof(Paths.Both), MemberType = typeof(Paths))]
    public async Task Interceptor_SeesAndChangesEveryCall(string path)
    {
        using var channel = fixture.Open(path);
        var interceptor = new HeaderInterceptor();
        var client = new Tester.TesterClient(channel.CallInvoker.Intercept(interceptor));
        using var call = client.UnaryAsync(new Request { Text = "intercepted" }, deadline: DateTime.UtcNow + s_timeout);
        Assert.Equal("intercepted", (await call.ResponseAsync).Text);
        Assert.Equal("from-interceptor", (await call.ResponseHeadersAsync).GetValue("echo-header"));
        using var stream = client.ServerStream(new Request { Count = 2 }, deadline: DateTime.UtcNow + s_timeout);
        while (await stream.ResponseStream.MoveNext(CancellationToken.None))
        {
        }
        Assert.Equal(2, interceptor.Calls);
    }

    [Fact]
    public async Task UnknownService_IsUnavailable_Promptly()
    {
        using var channel = GrpcServiceChannel.ForAddress("iic://nobody-offers-this", new GrpcServiceChannelOptions
        {
            Native = { Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory, ConnectTimeout = TimeSpan.FromMilliseconds(200) } },
        });
        var client = new Tester.TesterClient(channel.CallInvoker);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new Request()));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("nobody-offers-this", e.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>Asks the server (bounded) whether the call named <paramref name="key"/> saw its token cancelled.</summary>
    private static async Task AssertServerCancelledAsync(Tester.TesterClient client, string key)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var reply = await client.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: DateTime.UtcNow + s_timeout);
            if (reply.Flag)
            {
                return;
            }
            Assert.True(watch.Elapsed < s_timeout, $"The server never saw call {key} cancelled.");
            await Task.Delay(20);
        }
    }

    private sealed class HeaderInterceptor : Interceptor
    {
        private int _calls;

        public int Calls => _calls;

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            Interlocked.Increment(ref _calls);
            var headers = context.Options.Headers ?? [];
            headers.Add("x-test", "from-interceptor");
            return continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers)));
        }

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
        {
            Interlocked.Increment(ref _calls);
            return continuation(request, context);
        }
    }
}
