using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// An IicCallInvoker with several connections (ConnectionCount) against a server that limits each connection's concurrent
/// calls (MaxConcurrentCallsPerConnection, docs/grpc-call-protocol.md 1 and 2.8): a call goes to a connection with a free
/// slot, not to a full one while others have room, and a call queued because every slot of the pool is taken starts on
/// whichever connection frees one first, as SocketsHttpHandler's HTTP/2 pool serves queued requests from any connection.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ConnectionPoolTests(TesterFixture fixture)
{
    private const int Limit = 2;
    private const int Connections = 3;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private static DateTime Deadline => DateTime.UtcNow + s_timeout;

    /// <summary>How many "gate" handlers under <paramref name="key"/> the server started (asked over another connection).</summary>
    private static int Started(Tester.TesterClient observer, string key)
        => int.Parse(observer.Unary(new Request { Mode = "peak?", Key = key }, deadline: Deadline).Text, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Held_calls_fill_every_connection_of_the_pool_and_a_queued_call_starts_on_whichever_frees_a_slot()
    {
        const string Service = "pool-limited";
        using var server = ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, Service, $"max-calls={Limit}");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var invoker = new IicCallInvoker(Service, new IicGrpcClientOptions
        {
            Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory },
            ConnectionCount = Connections,
        });
        var client = new Tester.TesterClient(invoker);

        // Each held call is followed by two quick ones, so round robin alone (main) would give every held call the same
        // connection: two would run there and four wait, while the other two connections had room.
        var held = new List<AsyncUnaryCall<Reply>>();
        for (var i = 0; i < Limit * Connections; i++)
        {
            if (i > 0)
            {
                Assert.Equal("quick", (await client.UnaryAsync(new Request { Text = "quick" }, deadline: Deadline).ResponseAsync.WaitAsync(s_timeout)).Text);
                Assert.Equal("quick", (await client.UnaryAsync(new Request { Text = "quick" }, deadline: Deadline).ResponseAsync.WaitAsync(s_timeout)).Text);
            }
            held.Add(client.UnaryAsync(new Request { Mode = "gate", Key = $"pool-held-{i}" }, deadline: Deadline));
        }
        WaitFor.Condition(() => Enumerable.Range(0, held.Count).All(i => Started(observer, $"pool-held-{i}") == 1),
            $"all {held.Count} held calls running, {Limit} on each of the {Connections} connections",
            diagnostics: () => $"waiting in the pool: {invoker.CallsWaiting}");
        Assert.Equal(0, invoker.CallsWaiting);
        Assert.Equal(Connections, invoker.OpenChannels.Count());

        // Every slot of the pool is taken: the next call waits, and starts when any one of the held calls ends.
        using var queued = client.UnaryAsync(new Request { Mode = "gate", Key = "pool-queued" }, deadline: Deadline);
        Assert.Equal(1, invoker.CallsWaiting);
        for (var i = held.Count - 1; i >= 0; i--)
        {
            // Whichever connection frees a slot: the last held one's (on main: the queued call waited for its own connection).
            observer.Unary(new Request { Mode = "open-gate", Key = $"pool-held-{i}" }, deadline: Deadline);
            await held[i].ResponseAsync.WaitAsync(s_timeout);
            if (i == held.Count - 1)
            {
                WaitFor.Condition(() => Started(observer, "pool-queued") == 1, "the queued call started on the connection that freed a slot");
                Assert.Equal(0, invoker.CallsWaiting);
            }
        }
        observer.Unary(new Request { Mode = "open-gate", Key = "pool-queued" }, deadline: Deadline);
        await queued.ResponseAsync.WaitAsync(s_timeout);
        foreach (var call in held)
        {
            call.Dispose();
        }
        Assert.Equal(0, invoker.CallsInFlight);
        Assert.Equal(0, invoker.CallsWaiting);
    }

    /// <summary>
    /// A call that waits for a slot (or for its connection) with a deadline a tick before DateTime.MaxValue waits like any
    /// other: its start kept "now + what is left", which overflowed, so the call threw ArgumentOutOfRangeException out of
    /// UnaryAsync (main: only when it had to wait; FarDeadlineTests covers the connect, where every first call waits now).
    /// </summary>
    [Fact]
    public async Task A_call_with_a_far_deadline_waits_for_a_slot_and_completes()
    {
        const string Service = "pool-far-deadline";
        using var server = ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, Service, "max-calls=1");
        using var observerChannel = fixture.Open(server, "native");
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        using var channel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: Deadline).ResponseAsync.WaitAsync(s_timeout)).Text);

        using var holder = client.UnaryAsync(new Request { Mode = "gate", Key = "far-held" }, deadline: Deadline);
        WaitFor.Condition(() => Started(observer, "far-held") == 1, "the held call running");
        using var far = client.UnaryAsync(new Request { Text = "far" }, deadline: DateTime.SpecifyKind(DateTime.MaxValue.AddTicks(-1), DateTimeKind.Utc));
        Assert.Equal(1, ((IicCallInvoker)channel.CallInvoker).CallsWaiting);
        observer.Unary(new Request { Mode = "open-gate", Key = "far-held" }, deadline: Deadline);
        Assert.Equal("far", (await far.ResponseAsync.WaitAsync(s_timeout)).Text);
        await holder.ResponseAsync.WaitAsync(s_timeout);
    }

    /// <summary>
    /// Calls made, cancelled, expired and disposed from many threads on a fresh pool (its connects racing the first calls)
    /// whose server allows 2 calls per connection: a call moved to another connection, or granted a slot by one while its
    /// token ends it, never makes a connection exceed the limit (the server would close it: Unavailable), and every call
    /// leaves the registries and the pool's queue.
    /// </summary>
    [Fact]
    public async Task Calls_started_and_ended_from_many_threads_on_a_fresh_pool_never_exceed_a_connection_s_limit_and_all_leave_it()
    {
        const string Service = "pool-churn";
        using var server = ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, Service, $"max-calls={Limit}");
        using var invoker = new IicCallInvoker(Service, new IicGrpcClientOptions
        {
            Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory },
            ConnectionCount = Connections,
        });
        var client = new Tester.TesterClient(invoker);

        const int Threads = 4;
        var outcomes = await CallChurn.RunAsync(client, "pool-churn-never-opened", Threads, s_timeout);

        Assert.Equal(Threads * CallChurn.CallsPerThread, outcomes.Count);
        Assert.DoesNotContain(StatusCode.Unavailable, outcomes);
        Assert.All(outcomes, code => Assert.Contains(code, new[] { StatusCode.OK, StatusCode.Cancelled, StatusCode.DeadlineExceeded }));
        Assert.Equal(Threads * CallChurn.CallsPerThread / 4, outcomes.Count(code => code == StatusCode.OK));
        WaitFor.Condition(() => invoker.CallsInFlight == 0 && invoker.CallsWaiting == 0, "every call left the registries and the pool's queue",
            diagnostics: () => $"registered {invoker.CallsInFlight}, waiting {invoker.CallsWaiting}");
        WaitFor.Condition(() => invoker.OpenChannels.Count() == Connections, $"all {Connections} connections open (a slot's connect may still run)", s_timeout);
        var channels = invoker.OpenChannels.ToList();
        for (var i = 0; i < 2 * Connections; i++)
        {
            Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: Deadline).ResponseAsync.WaitAsync(s_timeout)).Text);
        }
        Assert.Equal(channels, invoker.OpenChannels); // none closed and replaced
    }

    private delegate ClientConnection? GetConnectionFunction(out Status failure, out Task<IicCallInvoker.ConnectResult>? connecting);

    /// <summary>
    /// Picking an open connection allocates nothing, with one connection or a pool: the connect's lambda once captured the
    /// slot in the method itself, so its closure was made on every call (GrpcPerf: 698 B per unary call against 666).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(Connections)]
    public async Task Picking_an_open_connection_allocates_nothing(int connections)
    {
        using var invoker = new IicCallInvoker("tester", new IicGrpcClientOptions
        {
            Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory },
            ConnectionCount = connections,
        });
        var client = new Tester.TesterClient(invoker);
        for (var i = 0; i < 2 * connections; i++)
        {
            Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: Deadline).ResponseAsync.WaitAsync(s_timeout)).Text);
        }
        // Each slot's connect started with its first pick; a call does not wait for it while another connection is open,
        // so the last one may still be connecting here (it failed the count once in a full run, on round 18's code too).
        WaitFor.Condition(() => invoker.OpenChannels.Count() == connections, $"all {connections} connections open", s_timeout);
        var pick = typeof(IicCallInvoker).GetMethod("GetConnection", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .CreateDelegate<GetConnectionFunction>(invoker);
        Assert.NotNull(pick(out _, out _)); // warm (JIT)
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            pick(out _, out _);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

}
