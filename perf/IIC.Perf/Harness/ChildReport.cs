using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>What a child prints at the end, as one line <c>@result {json}</c> on its standard output.</summary>
internal sealed record ChildReport(ServerReport? Server, ClientMeasurement? Client)
{
    public const string LinePrefix = "@result ";
}
