using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// The line of a transparent retry for a CallStart that waits for the connection's sender (round 22,
/// docs/grpc-call-protocol.md 1): a call's claimed CallStart queued behind a stuck send (the ring full, none of it in the
/// ring) is taken back by the connection's end and starts again on a new connection, since the sender claims its send
/// only once it holds room for its first byte; a CallStart whose first piece is in the ring is never sent again. So is
/// (round 23) a CallStart deferred on the client connection's reader thread (a call started by an inline continuation with
/// the ring full), which that thread too sends only holding room. The server is a <see cref="RawServer"/> in this process,
/// which reads nothing unless told and closes a connection when told.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class QueuedCallStartRetryTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = RetryServing.Timeout;

    private static DateTime Deadline => RetryServing.Deadline;

    private IicCallInvoker Invoker(string service, bool inlineCompletions = false) => RetryServing.Invoker(fixture, service, inlineCompletions);

    /// <summary>
    /// A call that got its slot at its first try and claimed its send, whose CallStart then waited in the connection's queue
    /// for its sender (behind a large write the server does not read: the ring is full, none of the CallStart in it), starts
    /// again on a new connection when the connection ends, and is served there with the call that waited for a slot beside
    /// it; the large write's call, whose bytes are in the ring, ends Unavailable. Either thread may see the end first (the
    /// connection's reader, or the sender woken by the peer's close): both take the CallStart back, as the sender claims
    /// nothing once the channel ended. Before (rounds 21 and earlier; TransparentRetryTests' guard of round 21), the claimed
    /// call ended Unavailable with the connection though nothing of it was sent: this failed there (the claimed call's
    /// Unavailable instead of its reply on the new connection).
    /// </summary>
    [Fact]
    public async Task A_call_whose_claimed_CallStart_waits_for_the_connections_sender_when_its_connection_ends_starts_again_on_a_new_one()
    {
        const string Service = "retry-claimed";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 2);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        await RetryServing.WarmAsync(server, client); // connects: later calls find it open
        using var stuck = client.ClientStream(deadline: Deadline);
        var write = StuckWrite.StartQueued(invoker, stuck.RequestStream, s_timeout);
        using var claimed = client.UnaryAsync(new Request { Text = "claimed" }, deadline: Deadline); // the second slot, at once
        Assert.Equal(2, invoker.QueuedSends); // the write's rest, then the claimed call's CallStart: none of it in the ring
        using var waiting = client.UnaryAsync(new Request { Text = "waiting" }, deadline: Deadline);
        Assert.Equal(1, invoker.CallsWaiting);

        server.Close(0);
        var e = await Assert.ThrowsAsync<RpcException>(() => stuck.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // its message is partly in the ring: never started again
        await Assert.ThrowsAnyAsync<Exception>(() => write.WaitAsync(s_timeout));
        RetryServing.WaitForConnection(server, 2, claimed.ResponseAsync, "the claimed call");

        // Both on the new connection (its limit is 2), in whichever order they registered there.
        Assert.Equal(["claimed", "waiting"], RetryServing.ServeOnSecondConnection(server, 2).Order());
        Assert.Equal("claimed, on the new connection", (await claimed.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal("waiting, on the new connection", (await waiting.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.False(server.TryReceiveCallStart(1, TimeSpan.Zero, out _, out _)); // each once: nothing else went
        Assert.Equal(2, server.Accepted);
        Assert.Equal(0, invoker.CallsWaiting);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    /// <summary>
    /// A CallStart longer than the ring (request headers of 2 MiB, the ring 1 MiB) always goes through the connection's
    /// sender, in pieces (2.9): its first pieces are in the ring, unread, and the rest waits for room when the connection
    /// ends. The sender claimed its send with its first piece, so the call ends Unavailable and is never sent again: the
    /// first CallStart on the next connection is the next call's. The same before round 22 (a claimed CallStart was never
    /// started again): this guards the line, the side of it that round 22 did not move.
    /// </summary>
    [Fact]
    public async Task A_call_whose_CallStart_is_partly_in_the_ring_when_its_connection_ends_is_not_started_again()
    {
        const string Service = "retry-partly-sent";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 2);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        await RetryServing.WarmAsync(server, client);
        var connection = Assert.Single(invoker.OpenChannels);
        var sentBefore = connection.GetStatistics().MessagesSent;
        using var partly = client.UnaryAsync(new Request { Text = "partly" }, HeaderBlocks.BigHeaders(2 * 1024 * 1024, 16 * 1024), Deadline);
        WaitFor.Condition(() => (connection.GetStatistics().MessagesSent > sentBefore && invoker.QueuedSends > 0) || partly.ResponseAsync.IsCompleted,
            "the CallStart's first pieces in the ring and the rest queued for the connection's sender", s_timeout);
        Assert.False(partly.ResponseAsync.IsCompleted, $"the call ended before its connection: {partly.ResponseAsync.Exception?.InnerException?.Message}");

        server.Close(0);
        var e = await Assert.ThrowsAsync<RpcException>(() => partly.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // partly sent: never started again (a server may have read it)

        using var next = client.UnaryAsync(new Request { Text = "next" }, deadline: Deadline);
        var (id, request) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("next", request!.Text); // the first frame on the new connection
        server.SendReply(1, id, new Reply { Text = "next" });
        Assert.Equal("next", (await next.ResponseAsync.WaitAsync(s_timeout)).Text);
        Assert.Equal(2, server.Accepted);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    /// <summary>
    /// Round 24's look at a CallStart longer than one record whose FIRST piece never went: queued whole behind a large
    /// write the server does not read (the ring full, none of the CallStart in it), it starts again on the new connection
    /// when the server closes the channel, as a one-record CallStart does. The connection sends such a frame in pieces of
    /// one record each (2.9, never the transport's own fragments), and the sender claims its send with the first piece
    /// only holding room for it (TrySendClaimed; a peer gone throws from IicChannel.TryClaim before anything is claimed),
    /// so nothing of it can be in the ring. The same since round 22 (a guard: this passed on round 23's code too); the
    /// side of the line where its first piece went is the test above.
    /// </summary>
    [Fact]
    public async Task A_call_whose_CallStart_longer_than_a_record_waits_whole_for_the_connections_sender_when_its_connection_ends_starts_again()
    {
        const string Service = "retry-long-unsent";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 2);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        await RetryServing.WarmAsync(server, client);
        using var stuck = client.ClientStream(deadline: Deadline);
        var write = StuckWrite.StartQueued(invoker, stuck.RequestStream, s_timeout);
        using var whole = client.UnaryAsync(new Request { Text = "whole" }, HeaderBlocks.BigHeaders(2 * 1024 * 1024, 16 * 1024), Deadline);
        Assert.Equal(2, invoker.QueuedSends); // the write's rest, then the long CallStart, none of it in the ring

        server.Close(0);
        var e = await Assert.ThrowsAsync<RpcException>(() => stuck.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // its message is partly in the ring: never started again
        await Assert.ThrowsAnyAsync<Exception>(() => write.WaitAsync(s_timeout));
        RetryServing.WaitForConnection(server, 2, whole.ResponseAsync, "the call with the long CallStart");
        // Its first piece is the first frame on the new connection (the rest waits for room: this server reads no more).
        var (type, _) = server.ReceiveFrame(1, s_timeout);
        Assert.Equal(FrameType.CallStart, type);
        Assert.False(whole.ResponseAsync.IsCompleted, $"the call ended: {whole.ResponseAsync.Exception?.InnerException?.Message}");
    }

    /// <summary>
    /// Round 23: a call started on the client connection's reader thread (the inline continuation of another call's reply)
    /// while the ring is full, whose CallStart therefore waits in that thread's deferred frames with none of it in the ring,
    /// starts again on a new connection when the connection ends, and is served there once. Before, the deferred CallStart
    /// counted as sent at once, and the call ended Unavailable with the connection though the server never saw it: this
    /// failed there ("the deferred call ended instead of starting again on a new connection"). The test's awaits never
    /// resume on the reader thread (<see cref="OffReader{T}"/>).
    /// </summary>
    [Fact]
    public async Task A_call_whose_CallStart_was_deferred_on_the_reader_thread_when_its_connection_ends_starts_again_on_a_new_one()
    {
        const string Service = "retry-deferred";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 3);
        using var invoker = Invoker(Service, inlineCompletions: true);
        var client = new Tester.TesterClient(invoker);
        var (stuck, write, deferred) = await DeferOnReaderThreadAsync(server, invoker, client, CancellationToken.None);
        using var stuckCall = stuck;
        using var deferredCall = deferred;

        server.Close(0);
        var e = await Assert.ThrowsAsync<RpcException>(() => OffReader(stuck.ResponseAsync));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // its message is partly in the ring: never started again
        await Assert.ThrowsAnyAsync<Exception>(() => OffReader(write));
        RetryServing.WaitForConnection(server, 2, deferred.ResponseAsync, "the deferred call");
        Assert.Equal(["deferred"], RetryServing.ServeOnSecondConnection(server, 1));
        Assert.Equal("deferred, on the new connection", (await OffReader(deferred.ResponseAsync)).Text);
        Assert.False(server.TryReceiveCallStart(1, TimeSpan.Zero, out _, out _)); // once: nothing else went
        Assert.Equal(2, server.Accepted);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    /// <summary>
    /// Round 23: a call whose deferred CallStart had not gone, ended by its own token (which takes it off the connection)
    /// before the connection ends, gives its slot back there when the connection's end fails the deferred CallStart: the
    /// start's continuation, not the connection's end (which no longer reaches the call), does it. Before (the first step
    /// of round 23, the deferred CallStart taken back as the queued one), the slot stayed taken on that connection for good:
    /// this failed there (1 slot held). Before round 23 the call's Cancel, chained to the deferred CallStart, gave it back.
    /// </summary>
    [Fact]
    public async Task A_call_whose_deferred_CallStart_had_not_gone_ended_by_its_token_before_the_connection_ends_gives_its_slot_back()
    {
        const string Service = "retry-deferred-cancelled";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 3);
        using var invoker = Invoker(Service, inlineCompletions: true);
        var client = new Tester.TesterClient(invoker);
        using var cancellation = new CancellationTokenSource();
        var (stuck, write, deferred) = await DeferOnReaderThreadAsync(server, invoker, client, cancellation.Token);
        using var stuckCall = stuck;
        using var deferredCall = deferred;
        var connection = invoker.ConnectionAt(0)!;
        Assert.Equal(2u, connection.SlotsHeld); // the stuck call's and the deferred call's

        await cancellation.CancelAsync();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => OffReader(deferred.ResponseAsync));
        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);
        Assert.Equal(2u, connection.SlotsHeld); // its CallStart may still go (then its Cancel follows): the slot waits for that

        server.Close(0);
        await Assert.ThrowsAsync<RpcException>(() => OffReader(stuck.ResponseAsync));
        await Assert.ThrowsAnyAsync<Exception>(() => OffReader(write));
        WaitFor.Condition(() => connection.SlotsHeld == 0, "every slot of the ended connection given back", s_timeout,
            diagnostics: () => $"{connection.SlotsHeld} slots held");
        Assert.Equal(1, server.Accepted); // the cancelled call never started again
    }

    /// <summary>
    /// The other side of round 23's line: a call whose CallStart, deferred on the reader thread, went into the ring once the
    /// server read the large write before it (the server reads it) ends Unavailable when the connection ends and is never
    /// sent again: the first CallStart on the new connection is the next call's. The same before round 23 (a deferred
    /// CallStart was never started again): a guard of "never sent twice".
    /// </summary>
    [Fact]
    public async Task A_call_whose_deferred_CallStart_went_when_its_connection_ends_is_not_started_again()
    {
        const string Service = "retry-deferred-sent";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 3);
        using var invoker = Invoker(Service, inlineCompletions: true);
        var client = new Tester.TesterClient(invoker);
        var (stuck, write, deferred) = await DeferOnReaderThreadAsync(server, invoker, client, CancellationToken.None);
        using var stuckCall = stuck;
        using var deferredCall = deferred;

        // The server reads the client stream's CallStart (no message in it), its large write's frames, then the deferred
        // CallStart behind them (its request in it).
        string? read = null;
        for (var frames = 0; read is null; frames++)
        {
            Assert.True(frames < 10_000, "no CallStart behind the large write");
            var frame = server.ReceiveFrameBytes(0, s_timeout);
            if ((FrameType)frame[0] == FrameType.CallStart && ((FrameFlags)frame[1] & FrameFlags.WithMessage) != 0)
            {
                var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(frame.AsSpan(Frame.HeaderLength));
                read = Request.Parser.ParseFrom(frame, Frame.HeaderLength + 4, length).Text;
            }
        }
        Assert.Equal("deferred", read);
        await OffReader(write); // its last chunk went before the CallStart

        server.Close(0);
        var e = await Assert.ThrowsAsync<RpcException>(() => OffReader(deferred.ResponseAsync));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode); // the server read it: never started again
        using var next = client.UnaryAsync(new Request { Text = "next" }, deadline: Deadline);
        var (id, request) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("next", request!.Text); // the first CallStart on the new connection
        server.SendReply(1, id, new Reply { Text = "next" });
        Assert.Equal("next", (await OffReader(next.ResponseAsync)).Text);
        Assert.Equal(2, server.Accepted);
    }

    /// <summary>
    /// Warms the connection, fills its ring (a large write of a client stream the server does not read, the rest queued for
    /// the connection's sender), then starts a unary call "deferred" (with <paramref name="token"/>) from the inline
    /// continuation of another call's reply, on the client connection's reader thread: its CallStart waits in that thread's
    /// deferred frames, none of it in the ring, as long as the server reads nothing.
    /// </summary>
    private static async Task<(AsyncClientStreamingCall<Request, Reply> Stuck, Task Write, AsyncUnaryCall<Reply> Deferred)> DeferOnReaderThreadAsync(
        RawServer server, IicCallInvoker invoker, Tester.TesterClient client, CancellationToken token)
    {
        await OffReader(RetryServing.WarmAsync(server, client));
        using var trigger = client.UnaryAsync(new Request { Text = "trigger" }, deadline: Deadline, cancellationToken: CancellationToken.None);
        var (triggerId, _) = server.ReceiveCallStart(0, s_timeout); // read before the ring fills: answered below
        var stuck = client.ClientStream(deadline: Deadline, cancellationToken: CancellationToken.None);
        var write = StuckWrite.StartQueued(invoker, stuck.RequestStream, s_timeout);

        // The trigger's reply completes it on the client connection's reader thread (InlineCompletions): the call started
        // there finds the sender's queue not empty and defers its CallStart.
        var started = new TaskCompletionSource<(AsyncUnaryCall<Reply> Call, bool OnReader)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = trigger.ResponseAsync.ContinueWith(
            _ => started.SetResult((client.UnaryAsync(new Request { Text = "deferred" }, deadline: Deadline, cancellationToken: token), CallConnection.OnReaderThread)),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        server.SendReply(0, triggerId, new Reply { Text = "trigger" });
        var (deferred, onReader) = await OffReader(started.Task);
        Assert.True(onReader, "the trigger's continuation did not run on the reader thread: the case was not exercised");
        Assert.Equal("trigger", (await OffReader(trigger.ResponseAsync)).Text);
        Assert.False(deferred.ResponseAsync.IsCompleted, $"the deferred call ended early: {deferred.ResponseAsync.Exception?.InnerException?.Message}");
        return (stuck, write, deferred);
    }

    /// <summary>
    /// Awaits <paramref name="task"/> (within the watchdog) and resumes on the pool, never inline on the thread that completed
    /// it: with InlineCompletions that is the client connection's reader thread, where the test's blocking waits that follow
    /// would hold the very thread that starts the deferred call again.
    /// </summary>
    private static async Task<T> OffReader<T>(Task<T> task) => await task.WaitAsync(s_timeout).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);

    /// <inheritdoc cref="OffReader{T}(Task{T})"/>
    private static async Task OffReader(Task task) => await task.WaitAsync(s_timeout).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
}
