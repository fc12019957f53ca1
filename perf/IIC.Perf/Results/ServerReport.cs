namespace IIC.Perf.Results;

/// <summary>What the server child reports at the end: messages it handled and CPU it used during the measured phase.</summary>
/// <param name="Messages">Messages handled in the measured phase.</param>
/// <param name="CpuS">CPU seconds used in the measured phase.</param>
/// <param name="IdleCpuFraction">When the client had an idle phase: the share of one CPU the server used while waiting through it.</param>
internal sealed record ServerReport(long Messages, double CpuS, double? IdleCpuFraction = null);
