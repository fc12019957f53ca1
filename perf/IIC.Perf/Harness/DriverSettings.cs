namespace IIC.Perf.Harness;

/// <summary>How long the client measures, and the idle-gap pauses.</summary>
/// <param name="WarmupS">Seconds of traffic before measuring (JIT tiering, caches, the child's start-up).</param>
/// <param name="DurationS">Seconds to measure (0: no time limit; then <paramref name="Count"/> ends it).</param>
/// <param name="Count">Round trips or messages to measure (0: no count limit; then the duration ends it).</param>
/// <param name="GapMinUs">Idle gap: shortest pause before a round trip, µs (0 for no pauses).</param>
/// <param name="GapMaxUs">Idle gap: longest pause, µs.</param>
/// <param name="IdleS">After measuring, stay quiet this long so the server can report the CPU it burns while idle (0: no idle phase).</param>
internal sealed record DriverSettings(double WarmupS, double DurationS, long Count, double GapMinUs, double GapMaxUs, double IdleS)
{
    public bool HasGaps => GapMaxUs > 0;
}
