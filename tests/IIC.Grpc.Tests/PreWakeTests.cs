using IIC.Grpc.Client;
using IIC.Grpc.Testing;

namespace IIC.Grpc.Tests;

/// <summary>
/// With <see cref="ClientConnection.PreWake"/> on, a call that begins after an idle gap first sends the server a no-op
/// frame (Cancel of stream 0) so its wake-up overlaps with building the call; the server ignores it and the call works.
/// Off (the default), a call sends its one frame only.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class PreWakeTests(TesterFixture fixture)
{
    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public async Task A_call_after_an_idle_gap_sends_a_wake_frame_first_only_when_asked(bool preWake, long framesPerCall)
    {
        var prior = ClientConnection.PreWake;
        ClientConnection.PreWake = preWake;
        try
        {
            using var server = fixture.StartStatelessServer($"prewake-{preWake}");
            using var channel = fixture.Connect(server.Address("iic://"));
            var client = new Tester.TesterClient(channel.CallInvoker);
            Assert.Equal("first", (await client.UnaryAsync(new Request { Text = "first" }, deadline: DateTime.UtcNow.AddSeconds(30))).Text);
            var connection = Assert.Single(((IicCallInvoker)channel.CallInvoker).OpenChannels);
            for (var i = 0; i < 5; i++)
            {
                Thread.Sleep(5); // the idle gap itself (25x the 0.2 ms after which the server is taken to be asleep), not a synchronisation
                var before = connection.GetStatistics().MessagesSent;
                Assert.Equal("gap" + i, (await client.UnaryAsync(new Request { Text = "gap" + i }, deadline: DateTime.UtcNow.AddSeconds(30))).Text);
                Assert.Equal(framesPerCall, connection.GetStatistics().MessagesSent - before);
            }
        }
        finally
        {
            ClientConnection.PreWake = prior;
        }
    }
}
