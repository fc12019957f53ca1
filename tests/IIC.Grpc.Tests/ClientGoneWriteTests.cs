using Grpc.Core;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A server write to a call whose client is gone fails; it is never reported sent (docs/grpc-call-protocol.md 2.6, round
/// 25b). The reader thread marks the call gone when it reads the client's Cancel and fires the call's token later, on the
/// pool; in that gap, and after, the response headers' write returned success with nothing sent. The server
/// (TestServer's ClientGoneModes) runs handlers inline, so the probe call runs on the reader thread right after the
/// Cancel, and holds every thread of its small pool meanwhile, so the token cannot fire before the probe's writes: the gap
/// is held open for certain, not hit by chance.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ClientGoneWriteTests(TesterFixture fixture)
{
    /// <summary>A watchdog, not synchronisation.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Writes_after_the_clients_Cancel_was_read_fail_before_the_calls_token_fired()
    {
        using var server = fixture.StartServer("small-pool-client-gone-gap", inlineHandlers: true);
        using var channel = fixture.Connect(server.Address("iic://"));
        using var observing = fixture.Connect(server.Address("iic://")); // another connection, with its own reader thread
        var client = new Tester.TesterClient(channel.CallInvoker);
        var observer = new Tester.TesterClient(observing.CallInvoker);
        Assert.Equal("up", (await observer.UnaryAsync(new Request { Text = "up" }, deadline: DateTime.UtcNow + s_stuck)).Text);
        var key = "client-gone-" + Guid.NewGuid();

        var target = client.ServerStream(new Request { Mode = "gone-target", Key = key });
        await WaitFor.ConditionAsync(async () => await ServerObservations.WrittenAsync(observer, key, s_stuck) == 0, "the target call's handler kept its call", s_stuck);
        Reply probe;
        var held = (await observer.UnaryAsync(new Request { Mode = "block-pool" }, deadline: DateTime.UtcNow + s_stuck)).Index;
        try
        {
            // The Cancel goes into the ring on this thread, before the probe's CallStart: the reader reads them in that order.
            target.Dispose();
            probe = await client.UnaryAsync(new Request { Mode = "gone-probe", Key = key }, deadline: DateTime.UtcNow + s_stuck);
        }
        finally
        {
            await observer.UnaryAsync(new Request { Mode = "release-pool" }, deadline: DateTime.UtcNow + s_stuck);
        }
        Assert.False(probe.Flag, $"the target's token fired before the probe's writes (with {held} pool threads held): the gap was not exercised");
        // Before round 25b: "headers=ok" (nothing sent). The message write was refused already at its first look (ClientGone).
        Assert.Equal("headers=OperationCanceledException write=InvalidOperationException", probe.Text);
        // The pool let go, the token fires and the target's handler ends.
        await WaitFor.ConditionAsync(async () => await ServerObservations.WriteOutcomeAsync(observer, key, s_stuck) == "cancelled", "the target's token fired once the pool was let go", s_stuck);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_stuck)).Text); // the connection serves on
    }
}
