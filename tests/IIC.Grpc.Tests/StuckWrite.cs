using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// A large request write (four times the 1 MiB ring) started while the server is frozen (SIGSTOP), seen stuck: its first
/// chunks are in the ring, and the rest waits in the connection's queue (every later send of the connection queues
/// behind it) until the server reads again. Shared by the tests of what may and may not wait meanwhile.
/// </summary>
internal static class StuckWrite
{
    public const int Large = 4 * 1024 * 1024;

    /// <summary>The one IICFast channel under <paramref name="channel"/>'s native invoker (connect with a call first).</summary>
    public static IicChannel ConnectionOf(GrpcServiceChannel channel) => Assert.Single(((IicCallInvoker)channel.CallInvoker).OpenChannels);

    /// <summary>
    /// Starts the write on another thread; returns it once its first chunks are in the ring of <paramref name="channel"/>'s
    /// one connection and the rest waits in the connection's queue for its sender (round 17: the writer then holds no lock
    /// and no thread, and every other send of the connection queues behind it), still pending. Seeing only the first
    /// chunks was not enough: until the ring is full the write still sends chunk after chunk, and a small frame of another
    /// call could go between them (a start-behind-lock test saw its CallStart go).
    /// </summary>
    public static Task Start(GrpcServiceChannel channel, IClientStreamWriter<Request> writer)
    {
        var invoker = (IicCallInvoker)channel.CallInvoker;
        var connection = ConnectionOf(channel);
        var sentBefore = connection.GetStatistics().MessagesSent;
        var write = Task.Run(() => writer.WriteAsync(new Request { Payload = Payloads.Of(Large) }));
        // A watchdog, not synchronisation: 30 s, as the tests' other waits for a stuck peer (a full run on a loaded 2-core
        // machine once timed out at the 10 s default here, reason not recorded: the diagnostics say it next time).
        WaitFor.Condition(() => connection.GetStatistics().MessagesSent >= sentBefore + 4 && invoker.QueuedSends > 0, "the large write's first chunks in the ring and the rest queued for the connection's sender",
            TimeSpan.FromSeconds(30), () => $"messages sent {connection.GetStatistics().MessagesSent - sentBefore} since the write began, sends queued {invoker.QueuedSends}, the write {write.Status}{(write.Exception is { } e ? ": " + e.InnerException?.Message : "")}");
        Assert.False(write.IsCompleted, $"the write of {Large} bytes completed ({write.Status}) while the server was frozen");
        return write;
    }

    /// <summary>
    /// Starts the write on another thread against a server that reads nothing (a <c>RawServer</c>), and returns it once the
    /// rest waits in the connection's queue for its sender (or the write ended: the caller's assertions say which they
    /// expect). Round 24: four retry tests had each written this out.
    /// </summary>
    public static Task StartQueued(IicCallInvoker invoker, IClientStreamWriter<Request> writer, TimeSpan timeout)
    {
        var write = Task.Run(() => writer.WriteAsync(new Request { Payload = Payloads.Of(Large) }));
        WaitFor.Condition(() => invoker.QueuedSends > 0 || write.IsCompleted, "the large write's rest queued for the connection's sender", timeout);
        return write;
    }
}
