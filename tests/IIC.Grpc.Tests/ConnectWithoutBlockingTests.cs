using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Protocol;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// IicCallInvoker connects without blocking the caller (docs/grpc-call-protocol.md 1): a call made while its connection is
/// being made returns at once and waits for it as grpc-dotnet's calls wait for SocketsHttpHandler's connect, its own
/// deadline, token and the invoker's Dispose ending it meanwhile with nothing sent; one connect per pool slot, shared by
/// every call that needs it. The server here is a <see cref="RawServer"/>: it accepts and sends no Settings frame until
/// the test says so, so "returned at once" is "returned while the server still held the connect".
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ConnectWithoutBlockingTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    /// <summary>An invoker whose connect waits up to 20 s (far beyond what each test waits for before it ends the call another way).</summary>
    private IicCallInvoker Invoker(string service, int connections = 1, TimeSpan? connectTimeout = null) => new(service, new IicGrpcClientOptions
    {
        Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory, ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(20) },
        ConnectionCount = connections,
    });

    [Fact]
    public async Task A_call_with_a_deadline_returns_while_the_server_holds_the_connect_and_ends_DeadlineExceeded()
    {
        using var server = new RawServer(fixture, "connect-stuck-deadline");
        using var invoker = Invoker("connect-stuck-deadline");
        var client = new Tester.TesterClient(invoker);

        using var call = client.UnaryAsync(new Request { Text = "never" }, deadline: DateTime.UtcNow + TimeSpan.FromMilliseconds(300));
        Assert.Equal(0, server.SettingsSent); // returned while the connect is still held (on main: after the 20 s connect timeout)
        Assert.Equal(StatusCode.DeadlineExceeded, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        Assert.Equal(0, server.SettingsSent);
        Assert.Equal(StatusCode.DeadlineExceeded, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Calls_cancelled_or_disposed_while_connecting_end_Cancelled_and_are_never_sent_and_the_next_call_goes_once_connected()
    {
        using var server = new RawServer(fixture, "connect-stuck-cancel");
        using var invoker = Invoker("connect-stuck-cancel");
        var client = new Tester.TesterClient(invoker);
        using var cancellation = new CancellationTokenSource();

        using var cancelled = client.UnaryAsync(new Request { Text = "cancelled" }, cancellationToken: cancellation.Token);
        var disposed = client.UnaryAsync(new Request { Text = "disposed" });
        using var streaming = client.ClientStream();
        var writeBeforeConnected = streaming.RequestStream.WriteAsync(new Request { Text = "a" });
        Assert.False(cancelled.ResponseAsync.IsCompleted);
        Assert.False(writeBeforeConnected.IsCompleted); // it waits for the call's start, which waits for the connection
        cancellation.Cancel();
        Assert.Equal(StatusCode.Cancelled, (await Assert.ThrowsAsync<RpcException>(() => cancelled.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
        disposed.Dispose();
        var disposedEnd = await Assert.ThrowsAsync<RpcException>(() => disposed.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal((StatusCode.Cancelled, "gRPC call disposed."), (disposedEnd.StatusCode, disposedEnd.Status.Detail));
        Assert.Equal(0, server.SettingsSent);

        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        server.SendSettings(0, maxCalls: 100);
        await writeBeforeConnected.WaitAsync(s_timeout);
        // The first frames the server reads are the streaming call's (stream 1: the cancelled and disposed calls were never numbered).
        Assert.Equal((FrameType.CallStart, 1u), server.ReceiveFrame(0, s_timeout));
        Assert.Equal((FrameType.Message, 1u), server.ReceiveFrame(0, s_timeout));
        using var next = client.UnaryAsync(new Request { Text = "next" });
        Assert.Equal((FrameType.CallStart, 2u), server.ReceiveFrame(0, s_timeout));
        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task Many_calls_on_many_threads_during_one_slow_connect_all_return_at_once_and_make_one_connection()
    {
        using var server = new RawServer(fixture, "connect-stuck-many");
        var invoker = Invoker("connect-stuck-many");
        var client = new Tester.TesterClient(invoker);
        const int Threads = 8;
        const int CallsEach = 10;

        var calls = await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
            Enumerable.Range(0, CallsEach).Select(i => client.UnaryAsync(new Request { Text = $"{t}.{i}" })).ToList()))).WaitAsync(s_timeout);
        Assert.Equal(0, server.SettingsSent); // every call returned while the connect was held
        Assert.All(calls.SelectMany(c => c), call => Assert.False(call.ResponseAsync.IsCompleted));

        WaitFor.Condition(() => server.Accepted == 1, "the connect accepted");
        server.SendSettings(0, maxCalls: 1000);
        var streams = new HashSet<uint>();
        for (var i = 0; i < Threads * CallsEach; i++)
        {
            var (type, stream) = server.ReceiveFrame(0, s_timeout);
            Assert.Equal(FrameType.CallStart, type);
            Assert.True(streams.Add(stream), $"stream {stream} twice");
        }
        Assert.Equal(1, server.Accepted); // one connect, shared by all 80 calls

        // The invoker's Dispose ends the calls it sent (the connection goes): Unavailable.
        invoker.Dispose();
        foreach (var call in calls.SelectMany(c => c))
        {
            Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout))).StatusCode);
            call.Dispose();
        }
    }

    [Fact]
    public async Task A_second_slot_connects_while_the_first_slot_s_connect_is_held_and_Dispose_ends_the_calls_waiting_for_both()
    {
        using var server = new RawServer(fixture, "connect-stuck-slots");
        var invoker = Invoker("connect-stuck-slots", connections: 2);
        var client = new Tester.TesterClient(invoker);

        // Two calls on two threads: round robin puts them on the two slots, each with its own connect.
        var calls = await Task.WhenAll(Task.Run(() => client.UnaryAsync(new Request { Text = "a" })), Task.Run(() => client.UnaryAsync(new Request { Text = "b" }))).WaitAsync(s_timeout);
        // On main the second connect waited behind the first (one lock, held across it) for the whole connect timeout.
        WaitFor.Condition(() => server.Accepted == 2, "both slots' connects accepted while neither got its Settings frame");
        Assert.Equal(0, server.SettingsSent);
        Assert.All(calls, call => Assert.False(call.ResponseAsync.IsCompleted));

        invoker.Dispose();
        foreach (var call in calls)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.Equal("The IicCallInvoker was disposed.", e.Status.Detail);
            call.Dispose();
        }
        // Disposed: a new call ends so at once, and blocking ones too.
        Assert.Equal(StatusCode.Unavailable, Assert.Throws<RpcException>(() => client.Unary(new Request())).StatusCode);
    }

    [Fact]
    public async Task A_service_nobody_offers_ends_the_calls_Unavailable_with_the_reason_and_a_later_call_tries_again()
    {
        using var invoker = Invoker("connect-nobody-offers-this", connectTimeout: TimeSpan.FromSeconds(2));
        var client = new Tester.TesterClient(invoker);

        using var call = client.UnaryAsync(new Request());
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("The IICFast service 'connect-nobody-offers-this' is not reachable through hypervisor", e.Status.Detail, StringComparison.Ordinal);
        // BlockingUnaryCall waits on the same task; each call tries to connect again.
        var blocking = Assert.Throws<RpcException>(() => client.Unary(new Request()));
        Assert.Equal(StatusCode.Unavailable, blocking.StatusCode);
        Assert.Contains("is not reachable through hypervisor", blocking.Status.Detail, StringComparison.Ordinal);

        // Offered now: the next call connects.
        using var server = new RawServer(fixture, "connect-nobody-offers-this", settingsOnAccept: 100);
        using var late = client.UnaryAsync(new Request());
        WaitFor.Condition(() => server.Accepted == 1, "the later call's connect accepted");
        Assert.Equal(FrameType.CallStart, server.ReceiveFrame(0, s_timeout).Type);
    }

    [Fact]
    public async Task A_server_that_sends_no_Settings_frame_within_the_connect_timeout_ends_the_waiting_calls_Unavailable()
    {
        using var server = new RawServer(fixture, "connect-stuck-timeout");
        using var invoker = Invoker("connect-stuck-timeout", connectTimeout: TimeSpan.FromMilliseconds(500));
        var client = new Tester.TesterClient(invoker);

        using var call = client.UnaryAsync(new Request());
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(s_timeout));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("sent no Settings frame within the connect timeout (0.5 s)", e.Status.Detail, StringComparison.Ordinal);
    }
}
