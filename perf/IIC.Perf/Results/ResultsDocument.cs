namespace IIC.Perf.Results;

/// <summary>The JSON file: the machine, then every row.</summary>
internal sealed record ResultsDocument(MachineInfo Machine, IReadOnlyList<BenchResult> Results, string Command, DateTimeOffset StartedUtc);
