using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// The transparent-retry tests' steps on a <see cref="RawServer"/> (TransparentRetryTests, QueuedCallStartRetryTests,
/// UnseenChannelEndRetryTests): their invoker, a warm-up call that opens the client's connection, the calls served on the server's second connection, and the wait for
/// that connection.
/// </summary>
internal static class RetryServing
{
    /// <summary>A watchdog, not synchronisation: past it something hung.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>A call deadline as far off as the watchdog.</summary>
    public static DateTime Deadline => DateTime.UtcNow + Timeout;

    /// <summary>
    /// An invoker on <paramref name="service"/> through the fixture's hypervisor, whose connect waits up to
    /// <paramref name="connectTimeout"/> (20 s unless told) for the service to be offered and to send its Settings frame.
    /// </summary>
    public static IicCallInvoker Invoker(TesterFixture fixture, string service, bool inlineCompletions = false, TimeSpan? connectTimeout = null, int connections = 1)
        => new(service, new IicGrpcClientOptions
        {
            Transport = { HypervisorName = fixture.HypervisorName, SocketDirectory = fixture.SocketDirectory, ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(20) },
            InlineCompletions = inlineCompletions,
            ConnectionCount = connections,
        });

    /// <summary>A first call, answered: the client's connection is open for the calls after it.</summary>
    public static async Task WarmAsync(RawServer server, Tester.TesterClient client)
    {
        using var warm = client.UnaryAsync(new Request { Text = "warm" }, deadline: Deadline);
        var (warmId, _) = server.ReceiveCallStart(0, Timeout);
        server.SendReply(0, warmId, new Reply { Text = "warm" });
        Assert.Equal("warm", (await warm.ResponseAsync.WaitAsync(Timeout)).Text);
    }

    /// <summary>Reads <paramref name="count"/> CallStarts on the server's second connection and answers each; returns their texts in arrival order.</summary>
    public static List<string> ServeOnSecondConnection(RawServer server, int count)
    {
        var served = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var (id, request) = server.ReceiveCallStart(1, Timeout, $"served on the second connection so far: [{string.Join(", ", served)}] of {count}");
            served.Add(request!.Text);
            server.SendReply(1, id, new Reply { Text = request.Text + ", on the new connection" });
        }
        return served;
    }

    /// <summary>Waits until the server accepted its <paramref name="count"/>th connection, or <paramref name="ended"/> ended first (and fails, saying how).</summary>
    public static void WaitForConnection(RawServer server, int count, Task ended, string what)
    {
        WaitFor.Condition(() => server.Accepted >= count || ended.IsCompleted, $"the server's connection {count}, or the end of {what}", Timeout);
        Assert.False(ended.IsCompleted, $"{what} ended instead of starting again on a new connection: {ended.Exception?.InnerException?.Message}");
    }
}
