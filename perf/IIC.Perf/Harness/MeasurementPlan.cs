using IIC.Perf.Core;

namespace IIC.Perf.Harness;

/// <summary>One measurement to make: a test over a transport in one mode, with one message size.</summary>
internal sealed record MeasurementPlan(IBenchTransport Transport, LinkOptions Link, DriverSettings Driver)
{
    /// <summary>The receive API, where it is a dimension of the result (throughput: poll or receive; ping-pong: receive or poll-claim).</summary>
    public string? ApiName => Link.Test switch
    {
        BenchTest.Throughput or BenchTest.Sizes or BenchTest.PingPong => Link.Api.ToName(),
        BenchTest.Channels when Link.SpreadTraffic => ChannelsSpreadApi, // the default channels row (one busy channel) has none
        _ => null,
    };

    /// <summary>The api of a channels row whose round trips were spread over all its channels (--channels-spread).</summary>
    public const string ChannelsSpreadApi = "spread";

    public override string ToString()
        => $"{Link.Test.ToName()} {Transport.Name} {Link.Mode}{(ApiName is null ? "" : " " + ApiName)} {SizeText.Format(Link.MessageSize)}{(Link.Test == BenchTest.Channels ? $" x{Link.Channels} channels" : "")}";
}
