using IIC.Perf.Core;
using IIC.Perf.Harness;

namespace IIC.Perf.Tests;

/// <summary>The ping-pong client (Harness/PingPongClient.cs) verifies every echo: a corrupted or stale one ends the run.</summary>
public sealed class PingPongClientTests
{
    private const int Size = 300;

    // No time limits: at least 2000 warm-up round trips (the client's minimum; 2016 in batches of 32), the Mark,
    // 100 measured, the Stop. Sent messages 500 and 700 are in the warm-up, 2050 and 2100 measured.
    private static readonly DriverSettings s_settings = new(WarmupS: 0, DurationS: 0, Count: 100, GapMinUs: 0, GapMaxUs: 0, IdleS: 0);

    public static TheoryData<string> Apis => new() { "receive", "poll-claim" };

    [Theory]
    [MemberData(nameof(Apis))]
    public void AnIntactEcho_IsMeasured(string api)
    {
        var endpoint = new EchoingEndpoint(spoilAt: -1);

        var measurement = Run(endpoint, api);

        Assert.Equal(100, measurement.Count);
        Assert.Equal(100, measurement.Latency!.Count);
        Assert.InRange(endpoint.Sent, 2000 + 1 + 100 + 1, 2000 + 32 + 1 + 100 + 1); // warm-up in batches of 32
    }

    [Theory]
    [InlineData("receive", 500, 0)]
    [InlineData("receive", 2050, Size - 1)]
    [InlineData("receive", 2050, 150)]
    [InlineData("poll-claim", 500, Size - 1)]
    [InlineData("poll-claim", 2050, 7)]
    [InlineData("poll-claim", 2050, 256)]
    public void AnEchoWithOneByteChanged_EndsTheRun(string api, int spoilAt, int position)
    {
        var endpoint = new EchoingEndpoint(spoilAt, position);

        Assert.Throws<InvalidDataException>(() => Run(endpoint, api));
        Assert.Equal(spoilAt, endpoint.Sent);
    }

    [Theory]
    [InlineData("receive", 700)]
    [InlineData("poll-claim", 2100)]
    public void AStaleEcho_EndsTheRun(string api, int spoilAt)
    {
        var endpoint = new EchoingEndpoint(spoilAt);

        Assert.Throws<InvalidDataException>(() => Run(endpoint, api));
        Assert.Equal(spoilAt, endpoint.Sent);
    }

    private static Results.ClientMeasurement Run(EchoingEndpoint endpoint, string name)
    {
        Assert.True(ReceiveApiNames.TryParse(name, out var api), name);
        return PingPongClient.Run(endpoint, new LinkOptions(BenchTest.PingPong, WaitModes.Spin, Size, api), s_settings);
    }
}
