using Grpc.Core;
using IIC.Grpc.Testing;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// <c>CompleteAsync</c> on a request stream returns at once while the connection cannot send (the server frozen with
/// SIGSTOP, another call's 4 MiB write holding the send lock in a full 1 MiB ring), and its HalfClose still reaches the
/// server in order once it reads again: the call completes with the reply to exactly what it wrote. Round 15: the
/// HalfClose waited on the caller's thread for the send lock, i.e. until the server read again, although
/// <c>CompleteAsync</c> returns a Task.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class CompleteWhileRingFullTests(TesterFixture fixture)
{
    /// <summary>A watchdog (the complete is immediate), not synchronisation: past it the complete hung.</summary>
    private static readonly TimeSpan s_stuck = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task CompleteAsync_returns_at_once_while_another_calls_write_waits_for_room_and_its_half_close_arrives_later()
    {
        using var server = fixture.StartServer("complete-while-ring-full");
        using var channel = fixture.Connect(server.Address("iic://"));
        var client = new Tester.TesterClient(channel.CallInvoker);
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" })).Text); // connected
        using var completing = client.ClientStream();
        await completing.RequestStream.WriteAsync(new Request { Text = "a", Count = 2 });
        await completing.RequestStream.WriteAsync(new Request { Text = "b", Count = 3 });
        using var blocking = client.ClientStream();
        Task write;
        bool completed;
        Task complete;
        server.Signal("STOP");
        try
        {
            write = StuckWrite.Start(channel, blocking.RequestStream);
            complete = Task.Run(completing.RequestStream.CompleteAsync);
            completed = await Task.WhenAny(complete, Task.Delay(s_stuck)) == complete;
        }
        finally
        {
            server.Signal("CONT");
        }
        Assert.True(completed, $"CompleteAsync did not return within {s_stuck.TotalSeconds} s while another call's write waited for room");
        await complete; // and without an error
        var reply = await completing.ResponseAsync.WaitAsync(s_stuck); // the HalfClose arrived after the server read again
        Assert.Equal("a,b", reply.Text);
        Assert.Equal(5, reply.Index);
        await write.WaitAsync(s_stuck);
        await blocking.RequestStream.CompleteAsync();
        await blocking.ResponseAsync.WaitAsync(s_stuck);
    }
}
