using Grpc.Core;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// A call disposed, or cancelled by its token, from another thread while its <c>WriteAsync</c> waits for room (the server
/// reads nothing: frozen with SIGSTOP, the message four times the 1 MiB ring) ends at once: <c>Dispose</c> and the
/// token's <c>Cancel</c> return, the write fails with <c>Cancelled</c>, and once the server reads again the connection
/// serves the next call. (The native path waited for room holding the connection's send lock, so the write hung and so
/// did the Dispose or Cancel, whose Cancel frame waited for the lock, until the server read again.)
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class EndDuringBlockedWriteTests(TesterFixture fixture)
{
    /// <summary>A watchdog (ending is immediate), not synchronisation: past it the end or the write hung.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("dispose")]
    [InlineData("token")]
    public async Task Ending_a_call_while_its_write_waits_for_room_returns_at_once_and_the_write_fails_Cancelled(string how)
    {
        using var server = fixture.StartServer("end-during-blocked-write-" + how);
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        var connection = StuckWrite.ConnectionOf(channel);
        using var source = new CancellationTokenSource();
        var call = client.ClientStream(cancellationToken: source.Token);
        bool ended, writeEnded;
        Task write;
        server.Signal("STOP");
        try
        {
            write = StuckWrite.Start(channel, call.RequestStream);
            var end = how == "dispose" ? Task.Run(call.Dispose) : Task.Run(source.Cancel);
            ended = await Task.WhenAny(end, Task.Delay(s_stuck)) == end;
            writeEnded = await Task.WhenAny(write, Task.Delay(s_stuck)) == write;
        }
        finally
        {
            server.Signal("CONT");
        }
        Assert.True(ended, $"the call's {how} did not return within {s_stuck.TotalSeconds} s while its write waited for room");
        Assert.True(writeEnded, $"the write waiting for room did not end within {s_stuck.TotalSeconds} s after the call's {how}");
        var e = await Assert.ThrowsAsync<RpcException>(() => write);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
        call.Dispose();
        Assert.Equal("after", (await client.UnaryAsync(new Request { Text = "after" })).Text); // the connection serves on
    }
}
