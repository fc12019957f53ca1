namespace IIC.Perf.Results;

/// <summary>What the server child reports at the end: messages it handled and CPU it used during the measured phase.</summary>
internal sealed record ServerReport(long Messages, double CpuS);
