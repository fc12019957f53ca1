using Grpc.Core;
using IIC.Grpc.Client;
using IIC.Grpc.Testing;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Grpc.Tests;

/// <summary>
/// A large request write (four times the 1 MiB ring) started while the server is frozen (SIGSTOP), seen stuck: its first
/// chunks are in the ring, and the rest cannot go (and the write holds the connection's send lock) until the server
/// reads again. Shared by the tests of what may and may not wait meanwhile.
/// </summary>
internal static class StuckWrite
{
    public const int Large = 4 * 1024 * 1024;

    /// <summary>The one IICFast channel under <paramref name="channel"/>'s native invoker (connect with a call first).</summary>
    public static IicChannel ConnectionOf(GrpcServiceChannel channel) => Assert.Single(((IicCallInvoker)channel.CallInvoker).OpenChannels);

    /// <summary>Starts the write on another thread; returns it once its first chunks are in <paramref name="connection"/>'s ring, still pending.</summary>
    public static Task Start(IicChannel connection, IClientStreamWriter<Request> writer)
    {
        var sentBefore = connection.GetStatistics().MessagesSent;
        var write = Task.Run(() => writer.WriteAsync(new Request { Payload = Payloads.Of(Large) }));
        WaitFor.Condition(() => connection.GetStatistics().MessagesSent >= sentBefore + 4, "the large write's first chunks in the ring");
        Assert.False(write.IsCompleted, $"the write of {Large} bytes completed ({write.Status}) while the server was frozen");
        return write;
    }
}
