using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>What a child prints at the end, as one line <c>@result {json}</c> on its standard output.</summary>
internal sealed record ChildReport(ServerReport? Server, ClientMeasurement? Client)
{
    public const string LinePrefix = "@result ";

    /// <summary>What a reused child prints once it has joined a row's session (before it serves it).</summary>
    public const string JoinedLine = "@joined";
}
