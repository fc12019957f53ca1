using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A call that provably sent nothing when its connection ended (it waited for a slot under the server's limit, or it
/// picked a connection that drained after the server's GoAway and closed before the call registered there) starts again
/// on a new connection, within its own deadline and token, as gRFC A6's transparent retry and SocketsHttpHandler's retry
/// of a request that never went out; a call whose CallStart went is never sent again (docs/grpc-call-protocol.md 1 and
/// 2.10). A call with WaitForReady waits through failed connects until its deadline, token or the invoker's Dispose, as
/// grpc-dotnet's. The servers are a <see cref="RawServer"/> in this process, which closes a connection or sends GoAway
/// when told, and (the kill) the test server process. Before: each of these calls ended <c>Unavailable</c>. A call starts
/// again at most 3 times (ClientCall.MaxTransparentRetries); since round 20, a call granted a slot whose connection ends
/// before its CallStart went starts again too; since round 22, one whose CallStart waited for the connection's sender
/// (QueuedCallStartRetryTests).
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class TransparentRetryTests(TesterFixture fixture)
{
    /// <summary>A watchdog, not synchronisation: past it something hung.</summary>
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private static DateTime Deadline => DateTime.UtcNow + s_timeout;

    /// <summary>Tester's Unary, for a call made on a given connection directly (the state of one that picked it earlier).</summary>
    private static readonly Method<Request, Reply> s_unary = new(MethodType.Unary, Tester.Descriptor.FullName, "Unary",
        Marshallers.Create(static (Request r) => r.ToByteArray(), Request.Parser.ParseFrom),
        Marshallers.Create(static (Reply r) => r.ToByteArray(), Reply.Parser.ParseFrom));

    /// <summary>
    /// An invoker whose connect waits up to <paramref name="connectTimeout"/> (20 s unless told) for the service to be offered
    /// and to send its Settings frame: IICFast's connect waits for a server that is not up yet (IicChannel.ConnectAsync).
    /// </summary>
    private IicCallInvoker Invoker(string service, TimeSpan? connectTimeout = null, int connections = 1)
        => RetryServing.Invoker(fixture, service, connectTimeout: connectTimeout, connections: connections);

    [Fact]
    public async Task Calls_queued_for_a_slot_when_the_server_closes_the_connection_start_in_order_on_a_new_one_and_the_sent_call_ends_Unavailable()
    {
        const string Service = "retry-queued";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 1);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        using var held = client.UnaryAsync(new Request { Text = "held" }, deadline: Deadline);
        Assert.Equal("held", server.ReceiveCallStart(0, s_timeout).Request!.Text); // its CallStart is in the ring: sent
        using var first = client.UnaryAsync(new Request { Text = "first" }, deadline: Deadline);
        using var second = client.UnaryAsync(new Request { Text = "second" }, deadline: Deadline);
        Assert.Equal(2, invoker.CallsWaiting); // above the server's limit of 1: nothing of them sent

        server.Close(0);
        var e = await Assert.ThrowsAsync<RpcException>(() => held.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // it was sent: never started again (the server may have run it)
        RetryServing.WaitForConnection(server, 2, first.ResponseAsync, "the first queued call");

        // In their order, one at a time (the new connection's limit is 1 too); the held call is not among them.
        var (firstId, firstRequest) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("first", firstRequest!.Text);
        server.SendReply(1, firstId, new Reply { Text = "first, on the new connection" });
        Assert.Equal("first, on the new connection", (await first.ResponseAsync.WaitAsync(s_timeout)).Text);
        var (secondId, secondRequest) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("second", secondRequest!.Text);
        server.SendReply(1, secondId, new Reply { Text = "second, on the new connection" });
        Assert.Equal("second, on the new connection", (await second.ResponseAsync.WaitAsync(s_timeout)).Text);

        using var next = client.UnaryAsync(new Request { Text = "next" }, deadline: Deadline);
        var (nextId, nextRequest) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("next", nextRequest!.Text); // the next frame: nothing else was sent on the new connection
        server.SendReply(1, nextId, new Reply { Text = "next" });
        Assert.Equal("next", (await next.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal(2, server.Accepted);
        Assert.Equal(0, invoker.CallsWaiting);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    [Fact]
    public async Task In_a_pool_a_queued_call_waits_on_while_another_connection_lives_and_starts_on_a_new_one_when_the_last_ends()
    {
        const string Service = "retry-pool";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 1);
        using var invoker = Invoker(Service, connections: 2);
        var client = new Tester.TesterClient(invoker);
        using var held1 = client.UnaryAsync(new Request { Text = "held 1" }, deadline: Deadline);
        Assert.Equal("held 1", server.ReceiveCallStart(0, s_timeout).Request!.Text);
        using var held2 = client.UnaryAsync(new Request { Text = "held 2" }, deadline: Deadline); // connects the pool's other slot
        Assert.Equal("held 2", server.ReceiveCallStart(1, s_timeout).Request!.Text);
        using var queued = client.UnaryAsync(new Request { Text = "queued" }, deadline: Deadline);
        Assert.Equal(1, invoker.CallsWaiting); // every slot of the pool taken

        server.Close(0);
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => held1.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        Assert.Equal(1, invoker.CallsWaiting); // waits on in the pool's queue: the other connection lives (and may free a slot)
        Assert.False(queued.ResponseAsync.IsCompleted);

        server.Close(1);
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => held2.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        RetryServing.WaitForConnection(server, 3, queued.ResponseAsync, "the queued call");
        var (id, request) = server.ReceiveCallStart(2, s_timeout);
        Assert.Equal("queued", request!.Text);
        server.SendReply(2, id, new Reply { Text = "queued, on a new connection" });
        Assert.Equal("queued, on a new connection", (await queued.ResponseAsync.WaitAsync(s_timeout)).Text);
    }

    [Fact]
    public async Task A_call_that_picked_a_connection_which_then_drained_after_GoAway_and_closed_starts_on_a_new_one()
    {
        const string Service = "retry-drained";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 100);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        await RetryServing.WarmAsync(server, client); // connects: later calls find it open
        var picked = invoker.ConnectionAt(0)!;

        server.SendGoAway(0);
        WaitFor.Condition(() => picked.IsClosed, "the connection closed on the GoAway (no call on it)", s_timeout);

        // A call that picked the connection before it drained, and registers only now that it closed: the invoker's window
        // between its pick (AsyncUnaryCall's GetConnection) and the registration (ClientCall.Start), held open here.
        var call = new ClientCall<Request, Reply>(s_unary, picked, int.MaxValue, inline: false);
        call.Start(new Request { Text = "late" }, sendRequest: true, new CallOptions(deadline: Deadline), default, connecting: null);
        RetryServing.WaitForConnection(server, 2, call.ResponseTask, "the call that found its connection drained");
        var (id, request) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("late", request!.Text);
        server.SendReply(1, id, new Reply { Text = "late, on the new connection" });
        Assert.Equal("late, on the new connection", (await call.ResponseTask.WaitAsync(s_timeout)).Text);
        call.Dispose();
    }

    /// <summary>
    /// A server that sends its Settings frame and GoAway at once (it began stopping as the client connected): the connect
    /// succeeded (the frame came), so the call waiting for it is served, never failed. Two outcomes are legal, by the
    /// threads' race: the call went out on the first connection before the client read the GoAway (the server serves it
    /// there, 2.10), or it starts again on a new connection. Before (lead, round 19), the connect reported "closed the
    /// connection before its Settings frame" whenever the drained connection had closed by the time the connect looked,
    /// and the call ended Unavailable; that too depends on the race, so this failed on the old code only sometimes.
    /// </summary>
    [Fact]
    public async Task A_server_that_drains_right_after_its_Settings_frame_counts_as_connected_and_the_call_starts_on_a_new_connection()
    {
        const string Service = "retry-drain-at-connect";
        using var server = new RawServer(fixture, Service);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        using var call = client.UnaryAsync(new Request { Text = "call" }, deadline: Deadline);
        WaitFor.Condition(() => server.Accepted >= 1, "the first connect accepted", s_timeout);
        server.SendSettings(0, maxCalls: 100);
        server.SendGoAway(0);
        var (servedOn, id, request) = (-1, 0u, (Request?)null);
        WaitFor.Condition(() =>
        {
            if (server.TryReceiveCallStart(0, TimeSpan.Zero, out var sentId, out var sent))
            {
                (servedOn, id, request) = (0, sentId, sent); // sent before the client read the GoAway: served here
                return true;
            }
            if (server.Accepted >= 2)
            {
                servedOn = 1; // started again on a new connection
                return true;
            }
            return call.ResponseAsync.IsCompleted;
        }, "the call sent on the first connection, a second connection, or the call's end", s_timeout);
        Assert.False(call.ResponseAsync.IsCompleted, $"the call ended instead of being served: {call.ResponseAsync.Exception?.InnerException?.Message}");
        if (servedOn == 1)
        {
            server.SendSettings(1, maxCalls: 100);
            (id, request) = server.ReceiveCallStart(1, s_timeout);
        }
        Assert.Equal("call", request!.Text);
        server.SendReply(servedOn, id, new Reply { Text = "served" });
        Assert.Equal("served", (await call.ResponseAsync.WaitAsync(s_timeout)).Text);
    }

    /// <summary>
    /// A call starts again at most <see cref="ClientCall{TRequest, TResponse}.MaxTransparentRetries"/> (3) times, WaitForReady
    /// or not: queued behind a sent call on each of 4 connections in a row (limit 1), each closed under it, it ends with the
    /// 4th connection's status (Unavailable, "The server closed the connection."), within its deadline, its CallStart never
    /// sent, and the server saw 4 connections, not a 5th. Deterministic: before each close the server drains the connection
    /// (GoAway), a new call opens the next one and holds its only slot (the server reads its CallStart), so the queued calls,
    /// started again when the drained one closes, find that open connection and queue there, in order, behind it. WaitForReady
    /// waits through failed connects, not through connections that end (docs/grpc-call-protocol.md 1): the same bound.
    /// </summary>
    [Fact]
    public async Task A_call_that_meets_a_closed_connection_a_fourth_time_ends_Unavailable_after_three_retries_never_sent()
    {
        const string Service = "retry-bound";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 1);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        var held = new List<AsyncUnaryCall<Reply>> { client.UnaryAsync(new Request { Text = "held 0" }, deadline: Deadline) };
        Assert.Equal("held 0", server.ReceiveCallStart(0, s_timeout).Request!.Text);
        using var plain = client.UnaryAsync(new Request { Text = "plain" }, deadline: Deadline);
        using var ready = client.UnaryAsync(new Request { Text = "ready" }, new CallOptions(deadline: Deadline).WithWaitForReady());
        Assert.Equal(2, invoker.CallsWaiting); // above the limit of 1: queued, nothing of them sent
        try
        {
            for (var connection = 0; connection < 3; connection++)
            {
                server.SendGoAway(connection);
                WaitFor.Condition(() => invoker.DrainingConnections == 1, $"connection {connection} draining", s_timeout);
                var next = client.UnaryAsync(new Request { Text = $"held {connection + 1}" }, deadline: Deadline); // connects the next one
                held.Add(next);
                Assert.Equal($"held {connection + 1}", server.ReceiveCallStart(connection + 1, s_timeout).Request!.Text);
                Assert.False(server.TryReceiveCallStart(connection, TimeSpan.Zero, out _, out _)); // the queued calls never went here

                server.Close(connection);
                var e = await Assert.ThrowsAsync<RpcException>(() => held[connection].ResponseAsync.WaitAsync(s_timeout));
                Assert.Equal(StatusCode.Unavailable, e.StatusCode); // sent: never started again
                WaitFor.Condition(() => invoker.CallsWaiting == 2 || plain.ResponseAsync.IsCompleted || ready.ResponseAsync.IsCompleted,
                    $"the queued calls queued again on connection {connection + 1}", s_timeout);
                Assert.False(plain.ResponseAsync.IsCompleted, $"retry {connection + 1} ended the call: {plain.ResponseAsync.Exception?.InnerException?.Message}");
                Assert.False(ready.ResponseAsync.IsCompleted, $"retry {connection + 1} ended the WaitForReady call: {ready.ResponseAsync.Exception?.InnerException?.Message}");
            }
            Assert.False(server.TryReceiveCallStart(3, TimeSpan.Zero, out _, out _));

            // The 4th connection ends under them: they started again 3 times already, so they end with its status.
            server.Close(3);
            foreach (var call in new[] { plain, ready })
            {
                var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
                Assert.Equal((StatusCode.Unavailable, "The server closed the connection."), (e.StatusCode, e.Status.Detail));
            }
            Assert.Equal(4, server.Accepted); // no 5th connect: they did not start again
            Assert.Equal(0, invoker.CallsWaiting);
            Assert.Equal(0, invoker.CallsInFlight);
        }
        finally
        {
            held.ForEach(static call => call.Dispose());
        }
    }

    /// <summary>
    /// A call that waited for a slot and was granted one, whose connection ends before its start sent its CallStart (its start
    /// runs on the pool after the grant; here it is held in its request's serializer, <see cref="SerializerHold"/>), sent
    /// nothing: it starts again on a new connection, as the calls still waiting do, and is served there (round 20). The close
    /// tells the calls in flight (the granted one) before those waiting (the other, which connects again at once), so once the
    /// server accepted a second connection the granted call has heard of the close, and then its start is let go. Before, it
    /// ended Unavailable with the connection, as a sent call does, since from its registration its CallStart "may be in the ring".
    /// </summary>
    [Fact]
    public async Task A_call_granted_a_slot_whose_connection_ends_before_its_CallStart_went_starts_again_on_a_new_one()
    {
        const string Service = "retry-granted";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 1);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        using var hold = new SerializerHold(s_timeout * 2);
        using var held = client.UnaryAsync(new Request { Text = "held" }, deadline: Deadline);
        var (heldId, _) = server.ReceiveCallStart(0, s_timeout);
        using var granted = invoker.AsyncUnaryCall(hold.Unary, null, new CallOptions(deadline: Deadline), new Request { Text = "granted" });
        using var waiting = client.UnaryAsync(new Request { Text = "waiting" }, deadline: Deadline);
        Assert.Equal(2, invoker.CallsWaiting); // above the limit of 1

        server.SendReply(0, heldId, new Reply { Text = "held" }); // its slot goes to the granted call, whose start is held
        Assert.Equal("held", (await held.ResponseAsync.WaitAsync(s_timeout)).Text);
        await hold.Held.WaitAsync(s_timeout);
        server.Close(0);
        RetryServing.WaitForConnection(server, 2, waiting.ResponseAsync, "the waiting call");
        Assert.False(granted.ResponseAsync.IsCompleted, $"the granted call ended with its connection: {granted.ResponseAsync.Exception?.InnerException?.Message}");

        hold.Release();
        // Both on the new connection, one after the other (its limit is 1), in whichever order they registered there.
        var served = RetryServing.ServeOnSecondConnection(server, 2);
        Assert.Equal(["granted", "waiting"], served.Order());
        Assert.Equal("granted, on the new connection", (await granted.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal("waiting, on the new connection", (await waiting.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal(2, server.Accepted);
        Assert.Equal(0, invoker.CallsWaiting);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    /// <summary>
    /// A call that got its slot at its first try (the usual path: registered and sent in one step of its caller's thread,
    /// never waiting), whose connection ends after its registration and before its CallStart went (its start held in its
    /// request's serializer on its caller's thread, <see cref="SerializerHold"/>), sent nothing: it starts again on a new
    /// connection and is served there (round 21), while the calls beside it whose CallStart went end Unavailable and are
    /// never sent again: one the server read, one in the ring that it did not read (the client cannot tell). The close tells the calls in flight (the held one, the sent one) before the one waiting for a
    /// slot (which connects again at once), so once the server accepted a second connection the held call has heard of the
    /// close, and then its start is let go. Before, it ended Unavailable with the connection: a call that never waited had
    /// no claim of its send, so from its registration its CallStart counted as "may be in the ring".
    /// </summary>
    [Fact]
    public async Task A_call_that_got_its_slot_at_once_whose_connection_ends_before_its_CallStart_went_starts_again_and_sent_ones_do_not()
    {
        const string Service = "retry-first-try";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 3);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        await RetryServing.WarmAsync(server, client); // connects: later calls find it open
        using var sent = client.UnaryAsync(new Request { Text = "sent" }, deadline: Deadline);
        Assert.Equal("sent", server.ReceiveCallStart(0, s_timeout).Request!.Text); // in the ring, read: it may run
        using var inRing = client.UnaryAsync(new Request { Text = "in the ring" }, deadline: Deadline); // never read: it may be, too
        WaitFor.Condition(() => invoker.QueuedSends == 0, "the unread call's CallStart in the ring, not queued for the sender", s_timeout);

        // The third slot, at the first try, on a thread of its own: its start (in Start, on the caller's thread) is held.
        using var hold = new SerializerHold(s_timeout * 2);
        var starting = Task.Run(() => invoker.AsyncUnaryCall(hold.Unary, null, new CallOptions(deadline: Deadline), new Request { Text = "first try" }));
        await hold.Held.WaitAsync(s_timeout);
        using var waiting = client.UnaryAsync(new Request { Text = "waiting" }, deadline: Deadline);
        Assert.Equal(1, invoker.CallsWaiting); // the held call has the third slot: registered, nothing of it sent

        server.Close(0);
        foreach (var call in new[] { sent, inRing })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
            Assert.Equal(StatusCode.Unavailable, e.StatusCode); // sent: never started again (the server may have run it)
        }
        RetryServing.WaitForConnection(server, 2, waiting.ResponseAsync, "the waiting call");

        hold.Release();
        using var firstTry = await starting.WaitAsync(s_timeout);
        Assert.False(firstTry.ResponseAsync.IsCompleted, $"the call held before its CallStart ended with its connection: {firstTry.ResponseAsync.Exception?.InnerException?.Message}");
        var served = RetryServing.ServeOnSecondConnection(server, 2);
        Assert.Equal(["first try", "waiting"], served.Order()); // the sent calls are not among them
        Assert.Equal("first try, on the new connection", (await firstTry.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal("waiting, on the new connection", (await waiting.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.False(server.TryReceiveCallStart(1, TimeSpan.Zero, out _, out _)); // nothing else went: neither sent call again
        Assert.Equal(2, server.Accepted);
        Assert.Equal(0, invoker.CallsWaiting);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    [Fact]
    public async Task Calls_started_again_still_end_at_their_token_or_deadline_with_nothing_sent()
    {
        const string Service = "retry-bounded";
        using var server = new RawServer(fixture, Service); // no Settings frame until told: the new connection's connect waits
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        using var held = client.UnaryAsync(new Request { Text = "held" }, deadline: Deadline);
        WaitFor.Condition(() => server.Accepted == 1, "the first connect accepted", s_timeout);
        server.SendSettings(0, 1);
        Assert.Equal("held", server.ReceiveCallStart(0, s_timeout).Request!.Text);
        using var cancellation = new CancellationTokenSource();
        using var cancelled = client.UnaryAsync(new Request { Text = "cancelled" }, deadline: Deadline, cancellationToken: cancellation.Token);
        using var expiring = client.UnaryAsync(new Request { Text = "expiring" }, deadline: DateTime.UtcNow + TimeSpan.FromSeconds(3));
        Assert.Equal(2, invoker.CallsWaiting);

        server.Close(0);
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => held.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        RetryServing.WaitForConnection(server, 2, cancelled.ResponseAsync, "the cancellable queued call"); // they wait for its Settings frame
        cancellation.Cancel();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => cancelled.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        Assert.Equal(StatusCode.DeadlineExceeded, (await Assert.ThrowsAsync<RpcException>(() => expiring.ResponseAsync.WaitAsync(s_timeout))).StatusCode);

        // Neither was sent: once the new connection is let through, the first CallStart on it is the next call's.
        server.SendSettings(1, 1);
        using var next = client.UnaryAsync(new Request { Text = "next" }, deadline: Deadline);
        var (id, request) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("next", request!.Text);
        server.SendReply(1, id, new Reply { Text = "next" });
        Assert.Equal("next", (await next.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    [Fact]
    public async Task A_call_with_WaitForReady_waits_through_failed_connects_until_its_deadline_or_the_invokers_Dispose()
    {
        // The connect waits 0.3 s for the service to be offered (the hypervisor rounds it up to 0.5 s), far less than the deadline.
        using var invoker = Invoker("retry-nobody-offers-this", TimeSpan.FromMilliseconds(300));
        var client = new Tester.TesterClient(invoker);

        // Without WaitForReady a failed connect ends the call, as grpc-dotnet's.
        var plain = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(new Request(), deadline: Deadline).ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, plain.StatusCode);
        Assert.Contains("is not reachable through hypervisor", plain.Status.Detail, StringComparison.Ordinal);

        using var ready = client.UnaryAsync(new Request(), new CallOptions(deadline: DateTime.UtcNow + TimeSpan.FromSeconds(4)).WithWaitForReady());
        Assert.Equal(StatusCode.DeadlineExceeded, (await Assert.ThrowsAsync<RpcException>(() => ready.ResponseAsync.WaitAsync(s_timeout))).StatusCode);

        using var forever = client.UnaryAsync(new Request(), new CallOptions().WithWaitForReady());
        invoker.Dispose();
        var disposed = await Assert.ThrowsAsync<RpcException>(() => forever.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal((StatusCode.Unavailable, "The IicCallInvoker was disposed."), (disposed.StatusCode, disposed.Status.Detail));
    }

    [Fact]
    public async Task A_queued_call_with_WaitForReady_outlives_its_killed_server_and_is_served_by_the_server_started_again()
    {
        const string Service = "retry-killed";
        using var first = ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, Service, "max-calls=1");
        // A connect waits 2 s for the service to be offered again: the plain call's ends Unavailable without the next server.
        using var invoker = Invoker(Service, TimeSpan.FromSeconds(2));
        var client = new Tester.TesterClient(invoker);
        using var held = client.UnaryAsync(new Request { Mode = "wait", Key = "retry-killed" }, deadline: Deadline);
        WaitFor.Condition(() => invoker.CallsInFlight == 1, "the held call registered", s_timeout);
        using var plain = client.UnaryAsync(new Request { Mode = "pid?" }, deadline: Deadline);
        using var ready = client.UnaryAsync(new Request { Mode = "pid?" }, new CallOptions(deadline: Deadline).WithWaitForReady());
        Assert.Equal(2, invoker.CallsWaiting);

        first.Kill();
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => held.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        // Started again, it found no server to connect to: without WaitForReady that ends it.
        Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => plain.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        Assert.False(ready.ResponseAsync.IsCompleted, $"the WaitForReady call ended: {ready.ResponseAsync.Exception?.InnerException?.Message}");

        using var second = ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, Service, "max-calls=1");
        Assert.Equal(second.Id, (await ready.ResponseAsync.WaitAsync(s_timeout)).Index);
    }
}
