using IIC.Perf.Core;

namespace IIC.Perf.Harness;

/// <summary>One measurement to make: a test over a transport in one mode, with one message size.</summary>
internal sealed record MeasurementPlan(IBenchTransport Transport, LinkOptions Link, DriverSettings Driver)
{
    /// <summary>The receive API, where it is a dimension of the result (throughput: poll or receive; ping-pong: receive or poll-claim).</summary>
    public string? ApiName => Link.Test is BenchTest.Throughput or BenchTest.Sizes or BenchTest.PingPong ? Link.Api.ToName() : null;

    public override string ToString()
        => $"{Link.Test.ToName()} {Transport.Name} {Link.Mode}{(ApiName is null ? "" : " " + ApiName)} {SizeText.Format(Link.MessageSize)}{(Link.Test == BenchTest.Channels ? $" x{Link.Channels} channels" : "")}";
}
