using Google.Protobuf;
using Grpc.Core;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// Round 17: a server write that must wait for room holds no thread, as Kestrel's HTTP/2 response writes await their flush.
/// The servers here run with a thread pool of 6 worker threads (a <c>small-pool-</c> service: SmallPoolAndRaceModes in the
/// test server), and one client's connection reads nothing (its reader thread held in a response's deserializer), so the
/// server's ring to it is full. Before, every handler writing to that client (a stream's WriteAsync, or the single response
/// too large to ride in the trailers, sent by Finish) waited for room on its pool thread: 6 such calls took the whole pool,
/// and every other client's calls of the server were starved past their deadline. Now what cannot go is queued for the
/// connection's one asynchronous sender, which awaits room without a thread.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class WritesHoldNoThreadTests(TesterFixture fixture)
{
    /// <summary>A watchdog (ending is prompt), not synchronisation: past it the wait did not end.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    /// <summary>More calls than the small pool has threads, by far.</summary>
    private const int Calls = 64;

    /// <summary>Another client's unary calls, all at once, each within its deadline: the server has threads to run them.</summary>
    private static async Task OtherClientIsServed(Tester.TesterClient other, string what)
    {
        var calls = Enumerable.Range(0, 16).Select(i => other.UnaryAsync(new Request { Text = "other" + i }, deadline: DateTime.UtcNow + s_stuck).ResponseAsync).ToList();
        var error = await Record.ExceptionAsync(() => Task.WhenAll(calls));
        Assert.True(error is null, $"another client's unary calls failed {what}: {error}");
        for (var i = 0; i < calls.Count; i++)
        {
            Assert.Equal("other" + i, calls[i].Result.Text);
        }
    }

    [Fact]
    public async Task Stream_writes_to_a_client_that_reads_nothing_hold_no_server_thread_and_end_when_it_disposes_its_calls()
    {
        using var server = fixture.StartServer("small-pool-streams");
        using var channel = fixture.Connect(server.Address("iic://"));
        using var otherChannel = fixture.Connect(server.Address("iic://"));
        var other = new Tester.TesterClient(otherChannel.CallInvoker);
        Assert.Equal("up", (await other.UnaryAsync(new Request { Text = "up" }, deadline: DateTime.UtcNow + s_stuck)).Text);
        var prefix = "frozen-stream-" + Guid.NewGuid() + "-";
        var calls = new List<AsyncServerStreamingCall<Reply>>();
        using (var hold = new ReaderHold(4 * s_stuck))
        {
            try
            {
                // Endless streams of 64 KiB replies: the 1 MiB ring to the held client fills, and every handler's write waits.
                for (var i = 0; i < Calls; i++)
                {
                    calls.Add(channel.CallInvoker.AsyncServerStreamingCall(hold.ServerStream, null, default, new Request { Key = prefix + i, Mode = "progress", Count = int.MaxValue, Payload = Payloads.Of(64 * 1024) }));
                }
                await hold.Held.WaitAsync(s_stuck);
                // Every handler started writing: with a thread held per waiting write, at most 6 would have.
                for (var i = 0; i < Calls; i++)
                {
                    var key = prefix + i;
                    await WaitFor.ConditionAsync(async () => await ServerObservations.WrittenAsync(other, key, s_stuck) >= 0, $"handler {i} of {Calls} writing to the client that reads nothing", s_stuck);
                }
                await OtherClientIsServed(other, $"while {Calls} handlers wait to write to a client that reads nothing");
            }
            finally
            {
                // The frozen client gives up: every call's Cancel reaches the server, whose waiting writes end with it.
                foreach (var call in calls)
                {
                    call.Dispose();
                }
            }
            for (var i = 0; i < Calls; i++)
            {
                var key = prefix + i;
                await WaitFor.ConditionAsync(async () => (await other.UnaryAsync(new Request { Mode = "cancelled?", Key = key }, deadline: DateTime.UtcNow + s_stuck)).Flag, $"handler {i}'s write to end after its call was disposed", s_stuck);
            }
        }
        await OtherClientIsServed(other, "after the frozen client's calls ended");
    }

    [Fact]
    public async Task Large_single_responses_to_a_client_that_reads_nothing_hold_no_server_thread()
    {
        const int Reply = 256 * 1024; // over the 64 KiB that rides in the trailers: sent as Message frames before them
        using var server = fixture.StartServer("small-pool-unary");
        using var channel = fixture.Connect(server.Address("iic://"));
        using var otherChannel = fixture.Connect(server.Address("iic://"));
        var other = new Tester.TesterClient(otherChannel.CallInvoker);
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await other.UnaryAsync(new Request { Text = "up" }, deadline: DateTime.UtcNow + s_stuck)).Text);
        var key = "large-single-" + Guid.NewGuid();
        var calls = new List<AsyncUnaryCall<Reply>>();
        try
        {
            using (var hold = new ReaderHold(4 * s_stuck))
            {
                using var stuck = channel.CallInvoker.AsyncServerStreamingCall(hold.ServerStream, null, default, new Request { Key = key, Mode = "progress", Count = int.MaxValue, Payload = Payloads.Of(4 * 1024 * 1024) });
                await hold.Held.WaitAsync(s_stuck);
                // Its second write cannot complete (4 MiB into the 1 MiB ring nobody reads): the ring stays full.
                await WaitFor.ConditionAsync(async () => await ServerObservations.WrittenAsync(other, key, s_stuck) >= 1, "the stream's second write started", s_stuck);
                for (var i = 0; i < Calls; i++)
                {
                    calls.Add(client.UnaryAsync(new Request { Text = "large" + i, Payload = Payloads.Of(Reply) }, deadline: DateTime.UtcNow + (4 * s_stuck)));
                }
                await OtherClientIsServed(other, $"while {Calls} unary handlers' large replies wait for a client that reads nothing");
                Assert.DoesNotContain(calls, c => c.ResponseAsync.IsCompleted); // the client read nothing yet
                stuck.Dispose(); // its write ends; the held reader is let go below
            }
            // The client reads again: every reply arrives whole, before its trailers.
            for (var i = 0; i < Calls; i++)
            {
                var reply = await calls[i].ResponseAsync.WaitAsync(s_stuck);
                Assert.Equal("large" + i, reply.Text);
                Assert.Equal(Reply, reply.Payload.Length);
            }
        }
        finally
        {
            foreach (var call in calls)
            {
                call.Dispose();
            }
        }
    }

    /// <summary>
    /// (a) A handler that returns while a write it started on another task is still sending a 4 MiB message: either the
    /// client gets the whole message before the trailers and the write succeeds, or the write fails (refused: it started
    /// after the handler returned). Before, the trailers could go between the message's chunks (the call ended OK without
    /// it, the rest dropped by the client) while the write reported success: lost silently.
    /// </summary>
    [Fact]
    public async Task A_write_racing_the_handlers_return_reaches_the_client_before_the_trailers_or_fails()
    {
        using var channel = fixture.Open("native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        for (var round = 0; round < 8; round++)
        {
            var key = "racing-return-" + Guid.NewGuid();
            var received = new List<int>();
            using (var call = client.ServerStream(new Request { Mode = "write-racing-return", Key = key }, deadline: DateTime.UtcNow + s_stuck))
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    received.Add(call.ResponseStream.Current.Index);
                    Assert.Equal(SmallPoolAndRaceModes.RacingMessage, call.ResponseStream.Current.Payload.Length);
                }
                Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
            }
            var outcome = "";
            await WaitFor.ConditionAsync(async () => (outcome = (await client.UnaryAsync(new Request { Mode = "outcome?", Key = key }, deadline: DateTime.UtcNow + s_stuck)).Text).Length != 0, "the racing write's outcome", s_stuck);
            if (outcome == "ok")
            {
                Assert.Equal([7], received);
            }
            else
            {
                Assert.Equal(nameof(InvalidOperationException), outcome);
                Assert.Empty(received);
            }
        }
    }
}
