using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A native server that stops (SIGTERM: the host's graceful shutdown) lets its calls in flight finish, as Kestrel's
/// HTTP/2 GOAWAY does: it stops accepting, tells each client to start no more calls on its connection (the GoAway frame,
/// docs/grpc-call-protocol.md 2.10), the client sends new calls to a new connection and closes the old one once its
/// calls ended, and the server exits when no connection is left. What is still open at the host's ShutdownTimeout is cut
/// off then. (Before round 18 the server closed every connection at once: a call in flight ended <c>Unavailable</c>.)
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class GracefulStopTests(TesterFixture fixture)
{
    /// <summary>A watchdog, not synchronisation: past it the stop or the call hung.</summary>
    private static readonly TimeSpan s_watchdog = TimeSpan.FromSeconds(60);

    /// <summary>What the server logs when its stop's time ran out with connections still open (ServerLog.DrainCutShort).</summary>
    private const string CutShort = "still open when the stop's time ran out";

    private ServerProcess StartServer(string service, params string[] extra)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", [fixture.HypervisorName, fixture.SocketDirectory, service, .. extra]);

    [Theory]
    [InlineData(1)]
    [InlineData(3)] // a pool: the draining connections leave it, and its other calls go on
    public async Task A_stopping_server_finishes_the_call_in_flight_while_new_calls_go_to_the_next_server(int connections)
    {
        var service = "graceful-roll-" + connections;
        using var first = StartServer(service);
        using var channel = GrpcServiceChannel.ForAddress(first.Address("iic://"), new GrpcServiceChannelOptions
        {
            Native = { Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory }, ConnectionCount = connections },
        });
        var invoker = (IicCallInvoker)channel.CallInvoker;
        var client = new Tester.TesterClient(invoker);
        using var call = client.Bidi(deadline: DateTime.UtcNow + s_watchdog);
        await call.RequestStream.WriteAsync(new Request { Text = "before" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal("before", call.ResponseStream.Current.Text);
        for (var i = 1; i < connections; i++)
        {
            Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: DateTime.UtcNow + s_watchdog)).Text); // every slot connected
        }

        first.Signal("TERM");
        // Each connection is told; the idle ones close at once, the one with the call in flight drains.
        WaitFor.Condition(() => invoker.DrainingConnections == 1 && invoker.OpenConnections == 1,
            "the connection with the call in flight draining (GoAway), the idle ones closed", s_watchdog,
            () => $"draining {invoker.DrainingConnections}, open {invoker.OpenConnections}; {first.Output}");

        // A rolling restart: the next server offers the same service; a new call goes there, not to the stopping one.
        using var second = StartServer(service);
        var served = await client.UnaryAsync(new Request { Mode = "pid?" }, deadline: DateTime.UtcNow + s_watchdog);
        Assert.Equal(second.Id, served.Index);

        // The call in flight on the stopping server goes on to its end.
        await call.RequestStream.WriteAsync(new Request { Text = "during" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "the call in flight ended when its server began to stop");
        Assert.Equal("during", call.ResponseStream.Current.Text);
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);

        // Its last call ended, so the client closed the connection and the first server exits without cutting anything off.
        Assert.True(first.WaitForExit(s_watchdog), $"the stopping server did not exit after its last call ended:\n{first.Output}");
        Assert.Equal(0, first.ExitCode);
        Assert.DoesNotContain(CutShort, first.Output, StringComparison.Ordinal);
        WaitFor.Condition(() => invoker.DrainingConnections == 0, "the drained connection closed", s_watchdog);
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: DateTime.UtcNow + s_watchdog)).Text);
    }

    [Fact]
    public async Task A_stopping_server_with_idle_connections_exits_at_once_and_a_later_call_is_Unavailable()
    {
        const string Service = "graceful-idle";
        using var server = StartServer(Service);
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" }, deadline: DateTime.UtcNow + s_watchdog)).Text);

        server.Signal("TERM");
        // The client has no call: it closes the connection on the GoAway, so the server needs no ShutdownTimeout (30 s).
        Assert.True(server.WaitForExit(s_watchdog), $"the stopping server did not exit:\n{server.Output}");
        Assert.Equal(0, server.ExitCode);
        Assert.DoesNotContain(CutShort, server.Output, StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(new Request { Text = "late" }, deadline: DateTime.UtcNow + s_watchdog).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    [Fact]
    public async Task A_call_still_running_when_the_stop_times_out_is_cut_off_Unavailable_and_the_server_says_so()
    {
        const string Service = "graceful-cut";
        using var server = StartServer(Service, "shutdown-timeout-ms=500");
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        var held = client.UnaryAsync(new Request { Mode = "wait", Key = "graceful-cut" }, deadline: DateTime.UtcNow + s_watchdog);
        // Sent (or on its way): the stopping server serves it, whether it read its CallStart before the stop or after.
        WaitFor.Condition(() => ((IicCallInvoker)channel.CallInvoker).CallsInFlight == 1, "the held call in flight");

        server.Signal("TERM");
        var e = await Assert.ThrowsAsync<RpcException>(() => held.ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.True(server.WaitForExit(s_watchdog), $"the stopping server did not exit:\n{server.Output}");
        Assert.Contains(CutShort, server.Output, StringComparison.Ordinal);
    }
}
