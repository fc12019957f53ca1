using System.Buffers.Binary;
using Google.Protobuf;
using Grpc.Core;
using IIC.AspNetCore;
using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Server;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// The server's limit on one connection's concurrent calls (IicGrpcServerOptions.MaxConcurrentCallsPerConnection, announced
/// in the connection's first frame, docs/grpc-call-protocol.md 2.8): IIC.Grpc's client queues the calls above it and starts
/// each when a slot frees, as SocketsHttpHandler queues requests above SETTINGS_MAX_CONCURRENT_STREAMS; a queued call's
/// token, deadline and Dispose end it with nothing sent; a client that ignores the limit has its connection closed, and
/// other clients go on. Each test runs its own server process with a limit of 4.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class CallLimitTests(TesterFixture fixture)
{
    private const int Limit = 4;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private ServerProcess StartLimitedServer(string service)
        => ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", fixture.HypervisorName, fixture.SocketDirectory, service, $"max-calls={Limit}");

    private static DateTime Deadline => DateTime.UtcNow + s_timeout;

    /// <summary>What the server saw of the "gate" handlers under <paramref name="key"/> (asked over another connection).</summary>
    private static (int Peak, int Running, int Started) Gate(Tester.TesterClient observer, string key)
    {
        var reply = observer.Unary(new Request { Mode = "peak?", Key = key }, deadline: Deadline);
        return (reply.Index, int.Parse(reply.Scope, System.Globalization.CultureInfo.InvariantCulture), int.Parse(reply.Text, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task More_calls_than_the_limit_all_complete_and_never_more_than_the_limit_run_at_once_on_the_server()
    {
        using var server = StartLimitedServer("limited-many");
        using var channel = fixture.Open(server, "native");
        using var observerChannel = fixture.Open(server, "native"); // its own connection: never queued behind the gate
        var client = new Tester.TesterClient(channel.CallInvoker);
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: Deadline)).Text);
        Assert.Equal([(uint)Limit], ((IicCallInvoker)channel.CallInvoker).ConnectionLimits);

        const int Calls = 20;
        var calls = Enumerable.Range(0, Calls).Select(i => client.UnaryAsync(new Request { Mode = "gate", Key = "many", Text = $"call {i}" }, deadline: Deadline)).ToList();
        // AsyncUnaryCall returned for each at once; the first four run, the rest wait in the connection's queue.
        Assert.Equal(Calls - Limit, ((IicCallInvoker)channel.CallInvoker).CallsWaiting);
        WaitFor.Condition(() => Gate(observer, "many").Started == Limit, $"{Limit} gate handlers running");
        Assert.All(calls, call => Assert.False(call.ResponseAsync.IsCompleted));

        observer.Unary(new Request { Mode = "open-gate", Key = "many" }, deadline: Deadline);
        var replies = await Task.WhenAll(calls.Select(c => c.ResponseAsync)).WaitAsync(s_timeout);
        Assert.Equal(Enumerable.Range(0, Calls).Select(i => $"call {i}"), replies.Select(r => r.Text));
        var (peak, running, started) = Gate(observer, "many");
        Assert.Equal(Calls, started);
        Assert.Equal(0, running);
        Assert.True(peak <= Limit, $"{peak} handlers of one connection ran at once on a server whose limit is {Limit}");
        Assert.Equal(0, ((IicCallInvoker)channel.CallInvoker).CallsWaiting);
        Assert.Equal(0, ((IicCallInvoker)channel.CallInvoker).CallsInFlight);
    }

    [Fact]
    public async Task A_queued_call_ended_by_its_token_its_deadline_or_Dispose_ends_so_and_its_handler_never_runs()
    {
        using var server = StartLimitedServer("limited-queued");
        using var channel = fixture.Open(server, "native");
        using var observerChannel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var observer = new Tester.TesterClient(observerChannel.CallInvoker);
        var invoker = (IicCallInvoker)channel.CallInvoker;
        Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: Deadline)).Text);
        var holders = Enumerable.Range(0, Limit).Select(_ => client.UnaryAsync(new Request { Mode = "gate", Key = "held" }, deadline: Deadline)).ToList();
        WaitFor.Condition(() => Gate(observer, "held").Started == Limit, $"{Limit} gate handlers running");

        using var cancellation = new CancellationTokenSource();
        using var cancelled = client.UnaryAsync(new Request { Mode = "count", Key = "queued-cancelled" }, deadline: Deadline, cancellationToken: cancellation.Token);
        var disposed = client.Bidi(deadline: Deadline);
        var writeBeforeStart = disposed.RequestStream.WriteAsync(new Request { Text = "never", Key = "queued-disposed" });
        using var streaming = client.ClientStream(deadline: Deadline);
        var firstWrite = streaming.RequestStream.WriteAsync(new Request { Text = "a", Count = 1 });
        using var empty = client.ClientStream(deadline: Deadline);
        var completeBeforeStart = empty.RequestStream.CompleteAsync();
        Assert.Equal(4, invoker.CallsWaiting);
        using var expiring = client.UnaryAsync(new Request { Mode = "count", Key = "queued-deadline" }, deadline: DateTime.UtcNow + TimeSpan.FromMilliseconds(200));
        Assert.False(writeBeforeStart.IsCompleted);
        Assert.False(firstWrite.IsCompleted);
        Assert.False(completeBeforeStart.IsCompleted);
        // One write at a time, as grpc-dotnet: a second one while the first waits for the start is refused.
        await Assert.ThrowsAsync<InvalidOperationException>(() => streaming.RequestStream.WriteAsync(new Request { Text = "b" }));

        cancellation.Cancel();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => cancelled.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        Assert.Equal(StatusCode.DeadlineExceeded, (await Assert.ThrowsAsync<RpcException>(() => expiring.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        disposed.Dispose();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => writeBeforeStart.WaitAsync(s_timeout))).StatusCode);
        Assert.Equal(StatusCode.Cancelled, disposed.GetStatus().StatusCode);
        Assert.Equal(2, invoker.CallsWaiting); // only the client streams wait on
        Assert.False(firstWrite.IsCompleted);

        observer.Unary(new Request { Mode = "open-gate", Key = "held" }, deadline: Deadline);
        await Task.WhenAll(holders.Select(h => h.ResponseAsync)).WaitAsync(s_timeout);
        await firstWrite.WaitAsync(s_timeout); // sent once the call started
        await streaming.RequestStream.WriteAsync(new Request { Text = "b", Count = 2 }).WaitAsync(s_timeout);
        await streaming.RequestStream.CompleteAsync().WaitAsync(s_timeout);
        var reply = await streaming.ResponseAsync.WaitAsync(s_timeout);
        Assert.Equal("a,b", reply.Text);
        Assert.Equal(3, reply.Index);
        await completeBeforeStart.WaitAsync(s_timeout); // its HalfClose went once the call started
        var emptyReply = await empty.ResponseAsync.WaitAsync(s_timeout);
        Assert.Equal(("", 0), (emptyReply.Text, emptyReply.Index));

        // A call made after them all on the same connection has run; the ended ones were never sent, so never ran.
        Assert.Equal("last", (await client.UnaryAsync(new Request { Mode = "count", Key = "queued-last", Text = "last" }, deadline: Deadline)).Text);
        Assert.Equal(-1, observer.Unary(new Request { Mode = "written?", Key = "queued-cancelled" }, deadline: Deadline).Index);
        Assert.Equal(-1, observer.Unary(new Request { Mode = "written?", Key = "queued-deadline" }, deadline: Deadline).Index);
        Assert.Equal(0, invoker.CallsWaiting);
        Assert.Equal(0, invoker.CallsInFlight);
    }

    [Fact]
    public async Task A_client_that_ignores_the_limit_has_its_connection_closed_and_other_clients_go_on()
    {
        using var server = StartLimitedServer("limited-hostile");
        using var channel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var polite = Enumerable.Range(0, 2).Select(i => client.UnaryAsync(new Request { Mode = "gate", Key = "polite", Text = $"polite {i}" }, deadline: Deadline)).ToList();
        WaitFor.Condition(() => Gate(client, "polite").Started == 2, "the other client's 2 gate handlers running");

        // A raw connection: reads the server's Settings frame, then opens one call more than it allows.
        using var raw = RawClient.Connect(fixture, "limited-hostile", s_timeout, out var settings);
        var buffer = new byte[1 << 16];
        Assert.Equal(Frame.HeaderLength + Frame.SettingsBodyLength, settings.Length);
        Assert.Equal((byte)FrameType.Settings, settings[0]);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(settings.AsSpan(2)));
        Assert.Equal((uint)Limit, BinaryPrimitives.ReadUInt32LittleEndian(settings.AsSpan(Frame.HeaderLength)));
        Assert.Equal((uint)IicGrpcServerOptions.DefaultMaxMetadataSize, BinaryPrimitives.ReadUInt32LittleEndian(settings.AsSpan(Frame.HeaderLength + 4))); // round 19: the header block limit
        for (uint id = 1; id <= Limit; id++)
        {
            raw.Send(RawClient.CallStart(id, "Unary", new Request { Mode = "gate", Key = "hostile" }));
        }
        WaitFor.Condition(() => Gate(client, "hostile").Started == Limit, $"the raw client's {Limit} gate handlers running (within the limit)");
        raw.Send(RawClient.CallStart(Limit + 1, "Unary", new Request { Mode = "gate", Key = "hostile" }));

        // The server closes the connection: the raw client's receive ends with the channel's end, its handlers are cancelled.
        var ended = await Task.Run(() =>
        {
            try
            {
                while (raw.TryReceive(buffer, out _, s_timeout))
                {
                }
                return "still open";
            }
            catch (IicException e)
            {
                return e.GetType().Name;
            }
        }).WaitAsync(s_timeout + s_timeout);
        Assert.Equal(nameof(IicChannelClosedException), ended);
        WaitFor.Condition(() => Gate(client, "hostile").Running == 0, "the raw client's handlers cancelled");
        Assert.Equal(Limit, Gate(client, "hostile").Started); // the call above the limit never ran

        // The other client's calls went on: those running complete, and new ones run.
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: Deadline)).Text);
        client.Unary(new Request { Mode = "open-gate", Key = "polite" }, deadline: Deadline);
        var replies = await Task.WhenAll(polite.Select(p => p.ResponseAsync)).WaitAsync(s_timeout);
        Assert.Equal(["polite 0", "polite 1"], replies.Select(r => r.Text));
    }

    [Fact]
    public async Task Calls_started_and_ended_from_many_threads_on_a_limited_connection_never_make_the_server_close_it()
    {
        // Every slot the client frees goes to a queued call at once; if the server still counted the freed call (a Cancel
        // overtaken by the next CallStart, a count decremented after the trailers), it would close the connection as a
        // client ignoring the limit, and the calls would end Unavailable.
        using var server = StartLimitedServer("limited-churn");
        using var channel = fixture.Open(server, "native");
        var client = new Tester.TesterClient(channel.CallInvoker);
        var invoker = (IicCallInvoker)channel.CallInvoker;
        Assert.Equal("warm", (await client.UnaryAsync(new Request { Text = "warm" }, deadline: Deadline)).Text);
        var connection = Assert.Single(invoker.OpenChannels);

        const int Threads = 4;
        var outcomes = await CallChurn.RunAsync(client, "churn-never-opened", Threads, s_timeout);

        Assert.Equal(Threads * CallChurn.CallsPerThread, outcomes.Count);
        Assert.DoesNotContain(StatusCode.Unavailable, outcomes);
        Assert.All(outcomes, code => Assert.Contains(code, new[] { StatusCode.OK, StatusCode.Cancelled, StatusCode.DeadlineExceeded }));
        Assert.Equal(Threads * CallChurn.CallsPerThread / 4, outcomes.Count(code => code == StatusCode.OK));
        WaitFor.Condition(() => invoker.CallsInFlight == 0 && invoker.CallsWaiting == 0, "every call left the connection's registry and queue",
            diagnostics: () => $"registered {invoker.CallsInFlight}, waiting {invoker.CallsWaiting}");
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" }, deadline: Deadline)).Text);
        Assert.Same(connection, Assert.Single(invoker.OpenChannels)); // the same connection: never closed
    }

    [Fact]
    public void The_limit_option_is_100_by_default_takes_null_for_none_and_refuses_less_than_1_when_set()
    {
        var options = new IIC.Grpc.Server.IicGrpcServerOptions();
        Assert.Equal(100, options.MaxConcurrentCallsPerConnection);
        options.MaxConcurrentCallsPerConnection = null;
        Assert.Null(options.MaxConcurrentCallsPerConnection);
        options.MaxConcurrentCallsPerConnection = 1;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxConcurrentCallsPerConnection = 0);
        Assert.Contains("at least 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("null for no limit", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, options.MaxConcurrentCallsPerConnection); // unchanged
    }
}
