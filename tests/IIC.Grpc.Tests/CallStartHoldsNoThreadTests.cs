using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A call's start never blocks the caller's thread (round 17, part 2), as grpc-dotnet's calls return at once (the request
/// goes from an async task): with the server frozen (SIGSTOP) and another call's large write stuck in the connection's
/// queue, <c>UnaryAsync</c> with no deadline and no token returns at once, its CallStart (and a request too large to ride
/// in it) queued for the connection's sender; the response comes once the server runs again. Before, the caller's thread
/// waited until the server read (without a token or deadline, for as long as the server was frozen). Dispose of such a
/// call ends it <c>Cancelled</c> and the server never hears of it.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class CallStartHoldsNoThreadTests(TesterFixture fixture)
{
    /// <summary>A watchdog (returning is prompt), not synchronisation: past it the start blocked.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    /// <summary>Larger than one chunk (64 KiB): the request does not ride in the CallStart frame.</summary>
    private const int LargeRequest = 200 * 1024;

    private static DateTime Deadline => DateTime.UtcNow + s_stuck;

    /// <summary>Starts a unary call on a thread of its own; returns the call once the start returned (or fails past the watchdog).</summary>
    private static async Task<AsyncUnaryCall<Reply>> StartOnOwnThread(Func<AsyncUnaryCall<Reply>> start)
    {
        var returned = Task.Factory.StartNew(start, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            return await returned.WaitAsync(s_stuck);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the call's start did not return within {s_stuck.TotalSeconds} s while the server was frozen (it blocks the caller's thread)");
            throw;
        }
    }

    [Theory]
    [InlineData("small")]
    [InlineData("large")]
    public async Task A_unary_call_without_deadline_or_token_returns_at_once_while_the_server_is_frozen_and_completes_once_it_runs(string size)
    {
        using var server = fixture.StartServer("start-no-thread-" + size);
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var stuck = client.ClientStream();
        var payload = Payloads.Of(size == "large" ? LargeRequest : 16);
        AsyncUnaryCall<Reply> call;
        Task holding;
        server.Signal("STOP");
        try
        {
            holding = StuckWrite.Start(channel, stuck.RequestStream);
            call = await StartOnOwnThread(() => client.UnaryAsync(new Request { Text = "late", Payload = payload }));
            Assert.False(call.ResponseAsync.IsCompleted, $"the call completed ({call.ResponseAsync.Status}) while the server was frozen");
        }
        finally
        {
            server.Signal("CONT");
        }
        var reply = await call.ResponseAsync.WaitAsync(s_stuck);
        Assert.Equal("late", reply.Text);
        Assert.Equal(payload, reply.Payload);
        await holding.WaitAsync(s_stuck);
        await stuck.RequestStream.CompleteAsync().WaitAsync(s_stuck);
        await stuck.ResponseAsync.WaitAsync(s_stuck);
        call.Dispose();
        stuck.Dispose();
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: Deadline)).Text); // the connection serves on
    }

    [Theory]
    [InlineData("small")]
    [InlineData("large")]
    public async Task Dispose_of_a_call_whose_start_is_queued_ends_it_cancelled_and_the_server_never_runs_its_handler(string size)
    {
        using var server = fixture.StartServer("start-queued-dispose-" + size);
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        var invoker = (IicCallInvoker)channel.CallInvoker;
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var stuck = client.ClientStream();
        var key = "start-queued-disposed-" + size;
        Task holding;
        server.Signal("STOP");
        try
        {
            holding = StuckWrite.Start(channel, stuck.RequestStream);
            var call = await StartOnOwnThread(() => client.UnaryAsync(new Request { Mode = "count", Key = key, Payload = Payloads.Of(size == "large" ? LargeRequest : 16) }));
            Assert.False(call.ResponseAsync.IsCompleted, $"the call completed ({call.ResponseAsync.Status}) while the server was frozen");
            call.Dispose();
            var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_stuck));
            Assert.Equal(StatusCode.Cancelled, e.StatusCode);
            Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
            Assert.False(holding.IsCompleted, "the stuck write completed while the server was frozen");
        }
        finally
        {
            server.Signal("CONT");
        }
        await holding.WaitAsync(s_stuck);
        await stuck.RequestStream.CompleteAsync().WaitAsync(s_stuck);
        await stuck.ResponseAsync.WaitAsync(s_stuck);
        stuck.Dispose();
        // A call made after it on the same connection has run; the disposed one was never sent, so never ran.
        Assert.Equal("after", (await client.UnaryAsync(new Request { Mode = "count", Key = key + "-after", Text = "after" }, deadline: Deadline)).Text);
        Assert.Equal(-1, client.Unary(new Request { Mode = "written?", Key = key }, deadline: Deadline).Index);
        WaitFor.Condition(() => invoker.CallsInFlight == 0, "every call of the connection ended and left its registry");
    }

    /// <summary>
    /// A client streaming call whose CallStart is queued: its writes and complete made at once wait for the start (the server
    /// would drop a message for a stream it does not know yet), and the server gets every message once it runs again.
    /// </summary>
    [Fact]
    public async Task Writes_of_a_call_whose_start_is_queued_reach_the_server_after_its_start()
    {
        using var server = fixture.StartServer("start-queued-writes");
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var stuck = client.ClientStream();
        AsyncClientStreamingCall<Request, Reply> call;
        Task first;
        Task holding;
        server.Signal("STOP");
        try
        {
            holding = StuckWrite.Start(channel, stuck.RequestStream);
            var returned = Task.Factory.StartNew(() => client.ClientStream(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            call = await returned.WaitAsync(s_stuck);
            first = call.RequestStream.WriteAsync(new Request { Text = "a", Count = 1 });
            Assert.False(first.IsCompleted, $"a write completed ({first.Status}) while the server was frozen");
        }
        finally
        {
            server.Signal("CONT");
        }
        await first.WaitAsync(s_stuck);
        await call.RequestStream.WriteAsync(new Request { Text = "b", Count = 2 }).WaitAsync(s_stuck);
        await call.RequestStream.CompleteAsync().WaitAsync(s_stuck);
        var reply = await call.ResponseAsync.WaitAsync(s_stuck);
        Assert.Equal(("a,b", 3), (reply.Text, reply.Index));
        await holding.WaitAsync(s_stuck);
        await stuck.RequestStream.CompleteAsync().WaitAsync(s_stuck);
        await stuck.ResponseAsync.WaitAsync(s_stuck);
        call.Dispose();
        stuck.Dispose();
    }
}
