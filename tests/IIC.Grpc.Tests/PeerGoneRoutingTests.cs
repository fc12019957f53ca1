using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A pool's routing and a connection whose peer a send found gone (round 24, docs/grpc-call-protocol.md 1): the server
/// closed the channel while the client connection's reader thread is held (by the inline continuation of a call's reply),
/// so the connection is not closed yet and stays among the pool's live ones. A call that its own connection has no slot
/// for is not routed there (CallRegistry.TryAdd), and that connection's slot connects again at once. The server is a
/// <see cref="RawServer"/> in this process, whose Settings frames the test sends, one limit per connection.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class PeerGoneRoutingTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = RetryServing.Timeout;

    /// <summary>
    /// Connection A (the invoker's slot 1, the server's first) lets 4 calls in and its reader is held while the server
    /// closes it; B (slot 0, the server's second) lets 1 in and has a call open. A call made then on A finds the peer gone
    /// (its try throws: A is marked) and waits for A's end. The next call's round robin gives it B, which is full: it is not
    /// routed to A (which has free slots), and A's slot connects again, so it is served on the new connection C while A's
    /// reader is still held and B still full. Before, the pool's walk registered it on A, its try threw too, and it waited
    /// for A's reader with the first (no connection was made: this failed there, no third connection within the watchdog).
    /// </summary>
    [Fact]
    public async Task A_pool_routes_no_call_to_a_connection_whose_peer_a_send_found_gone_and_connects_its_slot_again()
    {
        const string Service = "retry-peer-gone-routing";
        using var server = new RawServer(fixture, Service);
        using var invoker = RetryServing.Invoker(fixture, Service, inlineCompletions: true, connections: 2);
        var client = new Tester.TesterClient(invoker);

        // Round robin: the n-th call made by UnaryAsync takes slot n % 2 (retries do not count). The first connects slot 1
        // (A); the second, finding A open, takes it and starts slot 0's connect (B).
        using (var warm = client.UnaryAsync(new Request { Text = "warm" }, deadline: RetryServing.Deadline))
        {
            WaitFor.Condition(() => server.Accepted >= 1, "the server's first connection", s_timeout);
            server.SendSettings(0, maxCalls: 4);
            Serve(server, 0, "warm");
            Assert.Equal("warm", (await OffReader(warm.ResponseAsync)).Text);
        }
        using (var opener = client.UnaryAsync(new Request { Text = "opener" }, deadline: RetryServing.Deadline))
        {
            Serve(server, 0, "opener");
            Assert.Equal("opener", (await OffReader(opener.ResponseAsync)).Text);
        }
        WaitFor.Condition(() => server.Accepted >= 2, "the server's second connection", s_timeout);
        server.SendSettings(1, maxCalls: 1);
        WaitFor.Condition(() => invoker.ConnectionAt(0) is not null, "the pool's second connection open", s_timeout);
        var a = invoker.ConnectionAt(1)!;
        var b = invoker.ConnectionAt(0)!;

        // Third call: slot 1, A. Its reply's continuation holds A's reader thread (the watchdog's bound lets it go).
        using var release = new ManualResetEventSlim(false);
        var held = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var holder = client.UnaryAsync(new Request { Text = "holder" }, deadline: RetryServing.Deadline);
        var (holderId, _) = server.ReceiveCallStart(0, s_timeout);
        _ = holder.ResponseAsync.ContinueWith(
            _ =>
            {
                held.SetResult(CallConnection.OnReaderThread);
                release.Wait(4 * s_timeout);
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        server.SendReply(0, holderId, new Reply { Text = "holder" });
        // Fourth call: slot 0, B, which it fills (its server never answers it until the end).
        using var blocker = client.UnaryAsync(new Request { Text = "blocker" }, deadline: RetryServing.Deadline);
        var (blockerId, blockerRequest) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("blocker", blockerRequest!.Text);

        AsyncUnaryCall<Reply>? first = null;
        AsyncUnaryCall<Reply>? second = null;
        try
        {
            Assert.True(await OffReader(held.Task), "the holder's continuation did not run on the reader thread: the case was not exercised");
            server.Close(0);

            // Fifth call: slot 1, A, not closed yet: its try finds the peer gone and marks A.
            first = client.UnaryAsync(new Request { Text = "first" }, deadline: RetryServing.Deadline);
            Assert.False(a.IsClosed, "A ended while its reader was held: the case was not exercised");
            Assert.True(a.SendFoundPeerGone, "the first call's try did not find A's peer gone: the case was not exercised");
            Assert.False(first.ResponseAsync.IsCompleted, $"the first call ended instead of waiting to start again: {first.ResponseAsync.Exception?.InnerException?.Message}");
            Assert.Equal(1u, b.SlotsHeld); // B full: the next call's walk looks at A
            var heldOnA = a.SlotsHeld; // the first call's (and the holder's, if its end did not give it back yet)

            // Sixth call: slot 0, B, full: not to A, whose slot connects again.
            second = client.UnaryAsync(new Request { Text = "second" }, deadline: RetryServing.Deadline);
            Assert.Equal(heldOnA, a.SlotsHeld); // not the second call's (before: it took one of A's free slots)
            RetryServing.WaitForConnection(server, 3, second.ResponseAsync, "the second call");
            server.SendSettings(2, maxCalls: 4);
            Serve(server, 2, "second");
            Assert.Equal("second", (await OffReader(second.ResponseAsync)).Text); // A's reader still held, B still full
            Assert.False(first.ResponseAsync.IsCompleted); // it starts again only once A's end reaches it
        }
        finally
        {
            release.Set();
        }

        // A's end starts the first call again: B is full, so on C.
        Serve(server, 2, "first");
        Assert.Equal("first", (await OffReader(first.ResponseAsync)).Text);
        server.SendReply(1, blockerId, new Reply { Text = "blocker" });
        Assert.Equal("blocker", (await OffReader(blocker.ResponseAsync)).Text);
        Assert.Equal("holder", (await OffReader(holder.ResponseAsync)).Text);
        Assert.False(server.TryReceiveCallStart(2, TimeSpan.Zero, out _, out _)); // each once: nothing else went
        Assert.Equal(3, server.Accepted);
        WaitFor.Condition(() => a.IsClosed, "A's end", s_timeout);
        Assert.Equal(0, invoker.CallsInFlight);
        first.Dispose();
        second.Dispose();
    }

    /// <summary>Reads the next CallStart on the server's <paramref name="index"/>th connection, which must be <paramref name="text"/>'s, and answers it with the same text.</summary>
    private static void Serve(RawServer server, int index, string text)
    {
        var (id, request) = server.ReceiveCallStart(index, s_timeout, $"waiting for the call '{text}'");
        Assert.Equal(text, request!.Text);
        server.SendReply(index, id, new Reply { Text = text });
    }

    /// <summary>Awaits <paramref name="task"/> (within the watchdog), resuming on the pool, never inline on the reader thread that completed it.</summary>
    private static async Task<T> OffReader<T>(Task<T> task) => await task.WaitAsync(s_timeout).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
}
