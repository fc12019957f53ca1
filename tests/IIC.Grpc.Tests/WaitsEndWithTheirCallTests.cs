using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// Every wait of a write ends when its own call ends, whatever the peer does. (1) A server handler's <c>WriteAsync</c> to a
/// client that reads nothing (its reader thread held in a response's deserializer, so the server's ring stays full) ends
/// when the call's token fires (the client's Cancel, the deadline) and throws <see cref="OperationCanceledException"/>, as
/// Grpc.AspNetCore's write in progress does when the request is aborted; before, it waited for room until the client read
/// again. (2) A write waiting for the connection's send lock that ANOTHER call's write holds (that write waiting for room:
/// the peer frozen or not reading) ends too when its own call ends (Dispose, token, deadline; on the server the call's
/// token); before, it waited for the lock without end, on the caller's thread.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class WaitsEndWithTheirCallTests(TesterFixture fixture)
{
    /// <summary>A watchdog (ending is prompt), not synchronisation: past it the wait did not end.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    /// <summary>A reply larger than the 1 MiB ring: the second one cannot go while the client's reader is held.</summary>
    private const int Large = 4 * 1024 * 1024;

    /// <summary>A call that streams <see cref="Large"/> replies and notes, under its key, which write it starts next ("written?").</summary>
    private static Request Progress(string key, int payload = Large) => new() { Key = key, Mode = "progress", Count = 100, Payload = Payloads.Of(payload) };

    [Theory]
    [InlineData("cancel")]
    [InlineData("deadline")]
    public async Task A_handler_write_waiting_for_a_client_that_reads_nothing_ends_when_the_call_ends(string how)
    {
        using var server = fixture.StartServer("server-write-held-client-" + how);
        using var channel = fixture.Connect(server.Address("iic://"));
        using var observing = fixture.Connect(server.Address("iic://")); // another connection: the first one's reader is held
        var observer = new Tester.TesterClient(observing.CallInvoker);
        var key = "held-client-" + how + "-" + Guid.NewGuid();
        using var source = new CancellationTokenSource();
        using (var hold = new ReaderHold(4 * s_stuck))
        {
            // Far enough for the setup (a 4 MiB reply), near enough for the test: the server's token fires then.
            var options = how == "cancel" ? new CallOptions(cancellationToken: source.Token) : new CallOptions(deadline: DateTime.UtcNow + TimeSpan.FromSeconds(5));
            using var call = channel.CallInvoker.AsyncServerStreamingCall(hold.ServerStream, null, options, Progress(key));
            await hold.Held.WaitAsync(s_stuck);
            // Write 1 waits: it cannot complete (4 MiB into the 1 MiB ring nobody reads). Seen as its task got back incomplete,
            // not as "about to start": a Cancel before the wait began would find the write refused, not waiting (round 25).
            await WaitFor.ConditionAsync(async () => await ServerObservations.WaitingAsync(observer, key, s_stuck) >= 1, "the handler's second write waits for room", s_stuck);
            if (how == "cancel")
            {
                Assert.False(await ServerObservations.WriteCancelledAsync(observer, key, s_stuck), "the handler's write ended before its call did");
                await source.CancelAsync();
            }
            // The write ends with OperationCanceledException (the handler notes it) while the client still reads nothing.
            await WaitFor.ConditionAsync(() => CancelledNotRefusedAsync(observer, key), $"the handler's write waiting for room to end with OperationCanceledException after the call's {how}", s_stuck);
            var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(how == "cancel" ? StatusCode.Cancelled : StatusCode.DeadlineExceeded, e.StatusCode);
        }
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_stuck)).Text); // the connection serves on
    }

    /// <summary>The second handler's wait: its first message, or its response headers (WriteResponseHeadersAsync), behind the first one's stuck write.</summary>
    [Theory]
    [InlineData("message")]
    [InlineData("headers")]
    public async Task A_handler_write_waiting_for_the_send_lock_another_calls_write_holds_ends_when_its_call_is_cancelled(string what)
    {
        using var server = fixture.StartServer("server-write-lock-held-client");
        using var channel = fixture.Connect(server.Address("iic://"));
        using var observing = fixture.Connect(server.Address("iic://"));
        var observer = new Tester.TesterClient(observing.CallInvoker);
        var stuckKey = "lock-holder-" + Guid.NewGuid();
        var waitingKey = "lock-waiter-" + Guid.NewGuid();
        using var source = new CancellationTokenSource();
        using (var hold = new ReaderHold(4 * s_stuck))
        {
            using var stuck = channel.CallInvoker.AsyncServerStreamingCall(hold.ServerStream, null, default, Progress(stuckKey));
            await hold.Held.WaitAsync(s_stuck);
            await WaitFor.ConditionAsync(async () => await ServerObservations.WaitingAsync(observer, stuckKey, s_stuck) >= 1, "the first handler's second write waits for room (it holds the send lock)", s_stuck);
            // Another call on the same connection: its handler's first write waits for the send lock the first one holds.
            var client = new Tester.TesterClient(channel.CallInvoker);
            var request = Progress(waitingKey, 1024);
            request.Text = what == "headers" ? "headers-first" : "";
            using var waiting = client.ServerStream(request, cancellationToken: source.Token);
            // Its write waits, seen as the write's task got back incomplete in the handler. Before round 25 the test waited for
            // "written?", set just before the write starts: a Cancel that came first (a loaded machine, the handler's thread
            // not run) found ClientGone at the write's top, which returns (headers) or refuses (a message) without waiting,
            // and the handler's next write was refused: "cancelled?" never said "cancelled" and the watchdog fired.
            await WaitFor.ConditionAsync(async () => what == "headers" ? await ServerObservations.WaitingAsync(observer, waitingKey, s_stuck) == -2 : await ServerObservations.WaitingAsync(observer, waitingKey, s_stuck) >= 0, $"the second handler's first {what} write waits for the send lock", s_stuck);
            Assert.False(await ServerObservations.WriteCancelledAsync(observer, waitingKey, s_stuck), "the second handler's write ended before its call did");
            await source.CancelAsync();
            await WaitFor.ConditionAsync(() => CancelledNotRefusedAsync(observer, waitingKey), "the second handler's write waiting for the send lock to end with OperationCanceledException after its call was cancelled", s_stuck);
            Assert.False(await ServerObservations.WriteCancelledAsync(observer, stuckKey, s_stuck), "the first handler's write ended although its call goes on");
            stuck.Dispose();
            await WaitFor.ConditionAsync(() => CancelledNotRefusedAsync(observer, stuckKey), "the first handler's write waiting for room to end after its call was disposed", s_stuck);
        }
    }

    /// <summary>Whether the handler's waiting write ended cancelled; a write refused instead (it did not wait) fails the test at once, naming it.</summary>
    private static async Task<bool> CancelledNotRefusedAsync(Tester.TesterClient observer, string key) => await ServerObservations.WriteOutcomeAsync(observer, key, s_stuck) switch
    {
        "cancelled" => true,
        "" => false,
        var outcome => throw new Xunit.Sdk.XunitException($"the handler's write under {key} was {outcome}, not cancelled while waiting: it did not wait"),
    };

    /// <summary>What the second call's end is: its Dispose, its token, or its deadline (near: the setup takes milliseconds).</summary>
    [Theory]
    [InlineData("dispose")]
    [InlineData("token")]
    [InlineData("deadline")]
    public async Task A_client_write_waiting_for_the_send_lock_another_calls_write_holds_ends_when_its_call_ends(string how)
    {
        using var server = fixture.StartServer("client-write-lock-" + how);
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var connection = StuckWrite.ConnectionOf(channel);
        using var source = new CancellationTokenSource();
        var stuck = client.ClientStream();
        // Opened before the freeze: its CallStart is in the server's ring already.
        var waiting = client.ClientStream(
            deadline: how == "deadline" ? DateTime.UtcNow + TimeSpan.FromSeconds(5) : null,
            cancellationToken: how == "token" ? source.Token : default);
        Task write;
        bool writeEnded;
        server.Signal("STOP");
        try
        {
            var holding = StuckWrite.Start(channel, stuck.RequestStream);
            // Round 17: the small write returns at once, its message queued behind the stuck one (before, its thread waited
            // for the send lock the stuck write held); it stays in progress until its call ends.
            // On another thread with a watchdog: on round 16 the call returned only once its call ended.
            var returned = Task.Factory.StartNew(() => waiting.RequestStream.WriteAsync(new Request { Text = "small" }), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            write = await returned.WaitAsync(s_stuck);
            Assert.False(write.IsCompleted, $"the small write completed ({write.Status}) while another call's write held the ring");
            if (how == "dispose")
            {
                waiting.Dispose();
            }
            else if (how == "token")
            {
                await source.CancelAsync();
            }
            writeEnded = await Task.WhenAny(write, Task.Delay(s_stuck)) == write; // a watchdog, not synchronisation: ending is prompt
            Assert.False(holding.IsCompleted, "the stuck write completed while the server was frozen");
        }
        finally
        {
            server.Signal("CONT");
        }
        Assert.True(writeEnded, $"the write queued behind another call's stuck write did not end within {s_stuck.TotalSeconds} s after its call's {how}");
        var e = await Assert.ThrowsAsync<RpcException>(() => write);
        Assert.Equal(how == "deadline" ? StatusCode.DeadlineExceeded : StatusCode.Cancelled, e.StatusCode);
        waiting.Dispose();
        stuck.Dispose();
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_stuck)).Text); // the connection serves on
    }

    /// <summary>
    /// A unary call started while another call's write holds the ring (the server frozen): round 17 part 2, the start returns
    /// at once (its CallStart queued for the connection's sender; before, AsyncUnaryCall sent it on the caller's thread and
    /// waited, and only the call's token or deadline ended that wait, which this test asserted), and the call's token or
    /// deadline ends the call while the server is still frozen.
    /// </summary>
    [Theory]
    [InlineData("token")]
    [InlineData("deadline")]
    public async Task A_call_start_waiting_for_the_send_lock_another_calls_write_holds_ends_when_its_call_ends(string how)
    {
        using var server = fixture.StartServer("start-behind-lock-" + how);
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var connection = StuckWrite.ConnectionOf(channel);
        using var source = new CancellationTokenSource();
        var stuck = client.ClientStream();
        AsyncUnaryCall<Reply> started;
        bool callEnded;
        server.Signal("STOP");
        try
        {
            var holding = StuckWrite.Start(channel, stuck.RequestStream);
            // On another thread with a watchdog: before round 17 part 2 the start returned only once its call ended.
            var returned = Task.Factory.StartNew(() => client.UnaryAsync(new Request { Text = "late" },
                deadline: how == "deadline" ? DateTime.UtcNow + TimeSpan.FromSeconds(5) : null,
                cancellationToken: how == "token" ? source.Token : default), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            started = await returned.WaitAsync(s_stuck);
            Assert.False(started.ResponseAsync.IsCompleted, $"the call completed ({started.ResponseAsync.Status}) while another call's write held the ring");
            if (how == "token")
            {
                await source.CancelAsync();
            }
            // A watchdog, not synchronisation: ending is prompt.
            callEnded = await Task.WhenAny(started.ResponseAsync, Task.Delay(s_stuck)) == started.ResponseAsync;
            Assert.False(holding.IsCompleted, "the stuck write completed while the server was frozen");
        }
        finally
        {
            server.Signal("CONT");
        }
        Assert.True(callEnded, $"the call whose start was queued did not end within {s_stuck.TotalSeconds} s after its {how}");
        var e = await Assert.ThrowsAsync<RpcException>(() => started.ResponseAsync);
        Assert.Equal(how == "deadline" ? StatusCode.DeadlineExceeded : StatusCode.Cancelled, e.StatusCode);
        started.Dispose();
        stuck.Dispose();
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_stuck)).Text); // the connection serves on
    }

    /// <summary>
    /// Handlers on the pool (the default) whose calls end while their client reads nothing: each returned handler's trailers
    /// cannot go (another call's write holds the send lock, waiting for room), and before round 16 its thread waited for
    /// them, one pool thread per call, for as long as the client read nothing: a frozen or hostile client could take the
    /// server's pool. Now the trailers go later from the connection's one pool thread, and arrive once the client reads.
    /// </summary>
    [Fact]
    public async Task Returned_handlers_do_not_hold_pool_threads_while_their_client_reads_nothing()
    {
        const int Calls = 64;
        using var server = fixture.StartServer("trailers-held-client");
        using var channel = fixture.Connect(server.Address("iic://"));
        using var observing = fixture.Connect(server.Address("iic://")); // another connection: the first one's reader is held
        var observer = new Tester.TesterClient(observing.CallInvoker);
        var client = new Tester.TesterClient(channel.CallInvoker);
        var key = "trailers-held-" + Guid.NewGuid();
        var counted = "trailers-held-count-" + Guid.NewGuid();
        var threadsBefore = (await observer.UnaryAsync(new Request { Mode = "threads?" }, deadline: DateTime.UtcNow + s_stuck)).Index;
        using var source = new CancellationTokenSource();
        var calls = new List<AsyncUnaryCall<Reply>>();
        using (var hold = new ReaderHold(4 * s_stuck))
        {
            using var stuck = channel.CallInvoker.AsyncServerStreamingCall(hold.ServerStream, null, new CallOptions(cancellationToken: source.Token), Progress(key));
            await hold.Held.WaitAsync(s_stuck);
            // Its write 1 waits for room (4 MiB into the 1 MiB ring nobody reads) holding the connection's send lock.
            await WaitFor.ConditionAsync(async () => await ServerObservations.WaitingAsync(observer, key, s_stuck) >= 1, "the stuck stream's second write waits for room", s_stuck);
            for (var i = 0; i < Calls; i++)
            {
                calls.Add(client.UnaryAsync(new Request { Mode = "count", Key = counted, Text = "ok" + i }, deadline: DateTime.UtcNow + (4 * s_stuck)));
            }
            // Every handler runs and returns; none keeps its thread while its trailers wait.
            await WaitFor.ConditionAsync(async () => await ServerObservations.WrittenAsync(observer, counted, s_stuck) == Calls, $"all {Calls} handlers ran (a handler's thread held per call starves the pool)", s_stuck);
            var threads = (await observer.UnaryAsync(new Request { Mode = "threads?" }, deadline: DateTime.UtcNow + s_stuck)).Index;
            Assert.True(threads < threadsBefore + (Calls / 2), $"the server's pool grew from {threadsBefore} to {threads} threads for {Calls} returned handlers");
            Assert.DoesNotContain(calls, c => c.ResponseAsync.IsCompleted); // the client read nothing yet
            await source.CancelAsync(); // ends the stuck write (its call's Cancel)
        }
        // Released: the client reads again, and every call gets its reply from the trailers sent later.
        for (var i = 0; i < Calls; i++)
        {
            Assert.Equal("ok" + i, (await calls[i].ResponseAsync.WaitAsync(s_stuck)).Text);
            calls[i].Dispose();
        }
    }
}
