using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A channel the server closed while the client connection's reader thread has not reached its end (round 23,
/// docs/grpc-call-protocol.md 1): the connection is not closed yet, so the invoker may still give it to a new call, whose
/// first try to send its CallStart (one record) throws on the ended channel with nothing of it in the ring. Such a call
/// starts again on a new connection once that end comes, and a call made after a send found the peer gone goes to a new
/// connection at once. The reader thread is held by the inline continuation of a call's reply (InlineCompletions), which
/// makes the window as wide as the test needs; the server is a <see cref="RawServer"/> in this process.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class UnseenChannelEndRetryTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = RetryServing.Timeout;

    private IicCallInvoker Invoker(string service) => RetryServing.Invoker(fixture, service, inlineCompletions: true);

    /// <summary>
    /// The server closes the channel while the client's reader thread is held: a call started then picks the old connection
    /// (its reader has not seen the end), and its CallStart's one try throws; it waits, and once the reader is let go and
    /// reaches the end it is served on a new connection, once. A call started after that try goes to a new connection at
    /// once, served there while the old connection's reader is still held. Before, the first call ended Unavailable ("The
    /// connection to the server failed: The peer closed the channel: nothing more can be sent.") though nothing of it was
    /// sent, and so would the second: this failed there (the first call ended instead of waiting to start again).
    /// </summary>
    [Fact]
    public async Task A_call_whose_first_send_finds_the_channel_ended_before_the_reader_saw_it_starts_again_and_the_next_call_goes_to_a_new_connection()
    {
        const string Service = "retry-unseen-end";
        using var server = new RawServer(fixture, Service, settingsOnAccept: 4);
        using var invoker = Invoker(Service);
        var client = new Tester.TesterClient(invoker);
        await OffReader(RetryServing.WarmAsync(server, client));
        var old = invoker.ConnectionAt(0)!;

        using var release = new ManualResetEventSlim(false);
        var held = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var holder = client.UnaryAsync(new Request { Text = "holder" }, deadline: RetryServing.Deadline);
        var (holderId, _) = server.ReceiveCallStart(0, s_timeout);
        // The holder's reply completes it on the reader thread (InlineCompletions): its continuation holds that thread (the
        // bound is the watchdog's: a failing test still lets it go).
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

            first = client.UnaryAsync(new Request { Text = "first" }, deadline: RetryServing.Deadline);
            Assert.False(old.IsClosed, "the client's connection ended while its reader was held: the case was not exercised");
            Assert.False(first.ResponseAsync.IsCompleted, $"the first call ended instead of waiting to start again: {first.ResponseAsync.Exception?.InnerException?.Message}");
            Assert.True(old.SendFoundPeerGone); // its try found the peer gone

            second = client.UnaryAsync(new Request { Text = "second" }, deadline: RetryServing.Deadline);
            RetryServing.WaitForConnection(server, 2, second.ResponseAsync, "the second call");
            Assert.Equal(["second"], RetryServing.ServeOnSecondConnection(server, 1)); // the old reader still held
            Assert.Equal("second, on the new connection", (await OffReader(second.ResponseAsync)).Text);
            Assert.False(first.ResponseAsync.IsCompleted); // it starts again only once the old connection's end reaches it
        }
        finally
        {
            release.Set();
        }

        Assert.Equal(["first"], RetryServing.ServeOnSecondConnection(server, 1));
        Assert.Equal("first, on the new connection", (await OffReader(first.ResponseAsync)).Text);
        Assert.Equal("holder", (await OffReader(holder.ResponseAsync)).Text);
        Assert.False(server.TryReceiveCallStart(1, TimeSpan.Zero, out _, out _)); // each once: nothing else went
        Assert.Equal(2, server.Accepted);
        WaitFor.Condition(() => old.IsClosed, "the old connection's end", s_timeout);
        Assert.Equal(0, invoker.CallsInFlight);
        first.Dispose();
        second.Dispose();
    }

    /// <summary>Awaits <paramref name="task"/> (within the watchdog), resuming on the pool, never inline on the reader thread that completed it.</summary>
    private static async Task<T> OffReader<T>(Task<T> task) => await task.WaitAsync(s_timeout).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);

    /// <inheritdoc cref="OffReader{T}(Task{T})"/>
    private static async Task OffReader(Task task) => await task.WaitAsync(s_timeout).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
}
