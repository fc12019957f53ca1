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
    /// Connection A (the server's first, limit 4) has its reader held while the server closes it; B (the server's second,
    /// limit 1) is full. A call made then lands on A whatever the pick (B has no slot) and finds the peer gone (its try
    /// throws: A is marked), and waits for A's end. The next call is not routed to A, which has free slots: a pick of B
    /// (full) walks the pool and passes A over, a pick of A's slot passes it over in the invoker; either way A's slot
    /// connects again, so it is served on the new connection C while A's reader is still held and B still full. Before
    /// round 24 the pool's walk registered it on A, its try threw too, and it waited for A's reader with the first (no
    /// connection was made: this failed there, no third connection within the watchdog). Where each call lands is made by
    /// the connections' limits and by withholding B's Settings frame (the connection opens only once it is read), not by
    /// the invoker's round robin (round 25: before, the test named which slot each call's round robin took).
    /// </summary>
    [Fact]
    public async Task A_pool_routes_no_call_to_a_connection_whose_peer_a_send_found_gone_and_connects_its_slot_again()
    {
        const string Service = "retry-peer-gone-routing";
        const int ALimit = 4;
        using var server = new RawServer(fixture, Service);
        using var invoker = RetryServing.Invoker(fixture, Service, inlineCompletions: true, connections: 2);
        var client = new Tester.TesterClient(invoker);

        // A opens with the first call. Calls go on, each served on A, until a pick has started the other slot's connect (B):
        // while B's Settings are withheld it is not open, and every call goes to A, whichever slot its pick names.
        for (var i = 0; i == 0 || invoker.ConnectsUnderWay == 0; i++)
        {
            Assert.True(i < 100, "the pool started no second connect within 100 calls");
            using var warm = client.UnaryAsync(new Request { Text = "warm" + i }, deadline: RetryServing.Deadline);
            if (i == 0)
            {
                WaitFor.Condition(() => server.Accepted >= 1, "the server's first connection", s_timeout);
                server.SendSettings(0, maxCalls: ALimit);
            }
            Serve(server, 0, "warm" + i);
            Assert.Equal("warm" + i, (await OffReader(warm.ResponseAsync)).Text);
        }
        WaitFor.Condition(() => server.Accepted >= 2, "the server's second connection", s_timeout);
        var aSlot = invoker.ConnectionAt(0) is { IsClosed: false } ? 0 : 1;
        var a = invoker.ConnectionAt(aSlot)!;
        Assert.Null(invoker.ConnectionAt(1 - aSlot)); // B waits for its Settings

        // A full: the holder and three fillers (all on A, the one open connection).
        using var release = new ManualResetEventSlim(false);
        var held = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var holder = client.UnaryAsync(new Request { Text = "holder" }, deadline: RetryServing.Deadline);
        var (holderId, holderRequest) = server.ReceiveCallStart(0, s_timeout);
        Assert.Equal("holder", holderRequest!.Text);
        var fillers = new List<(AsyncUnaryCall<Reply> Call, uint Id)>();
        for (var i = 0; i < ALimit - 1; i++)
        {
            var filler = client.UnaryAsync(new Request { Text = "filler" + i }, deadline: RetryServing.Deadline);
            var (id, request) = server.ReceiveCallStart(0, s_timeout);
            Assert.Equal("filler" + i, request!.Text);
            fillers.Add((filler, id));
        }
        Assert.Equal((uint)ALimit, a.SlotsHeld);

        // B opens (limit 1); the blocker goes there whatever the pick (A is full) and fills it.
        server.SendSettings(1, maxCalls: 1);
        WaitFor.Condition(() => invoker.ConnectionAt(1 - aSlot) is not null, "the pool's second connection open", s_timeout);
        var b = invoker.ConnectionAt(1 - aSlot)!;
        using var blocker = client.UnaryAsync(new Request { Text = "blocker" }, deadline: RetryServing.Deadline);
        var (blockerId, blockerRequest) = server.ReceiveCallStart(1, s_timeout);
        Assert.Equal("blocker", blockerRequest!.Text);

        // The fillers end; then the holder's reply, whose continuation holds A's reader thread (the watchdog's bound lets it go).
        foreach (var (filler, id) in fillers)
        {
            server.SendReply(0, id, new Reply { Text = "filled" });
            Assert.Equal("filled", (await OffReader(filler.ResponseAsync)).Text);
            filler.Dispose();
        }
        _ = holder.ResponseAsync.ContinueWith(
            _ =>
            {
                held.SetResult(CallConnection.OnReaderThread);
                release.Wait(4 * s_timeout);
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        server.SendReply(0, holderId, new Reply { Text = "holder" });

        AsyncUnaryCall<Reply>? first = null;
        AsyncUnaryCall<Reply>? second = null;
        try
        {
            Assert.True(await OffReader(held.Task), "the holder's continuation did not run on the reader thread: the case was not exercised");
            server.Close(0);

            // On A, not closed yet (B is full): its try finds the peer gone and marks A.
            first = client.UnaryAsync(new Request { Text = "first" }, deadline: RetryServing.Deadline);
            Assert.False(a.IsClosed, "A ended while its reader was held: the case was not exercised");
            Assert.True(a.SendFoundPeerGone, "the first call's try did not find A's peer gone: the case was not exercised");
            Assert.False(first.ResponseAsync.IsCompleted, $"the first call ended instead of waiting to start again: {first.ResponseAsync.Exception?.InnerException?.Message}");
            Assert.Equal(1u, b.SlotsHeld); // B full: the next call's walk looks at A
            var heldOnA = a.SlotsHeld; // the first call's (and the holder's, if its end did not give it back yet)

            // Not to A, whose slot connects again, whichever slot the pick names.
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
