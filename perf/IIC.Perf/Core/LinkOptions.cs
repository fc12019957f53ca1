namespace IIC.Perf.Core;

/// <summary>
/// What both ends of one measurement agree on before they connect. Every message of a run has the same size
/// (control messages included), so stream transports frame by size alone, with no length prefix.
/// </summary>
/// <param name="Test">The measurement.</param>
/// <param name="Mode">The wait mode (one of <see cref="WaitModes"/>).</param>
/// <param name="MessageSize">Bytes per message, 8 B to 1 MiB.</param>
/// <param name="Api">How the throughput receiver takes messages.</param>
internal sealed record LinkOptions(BenchTest Test, string Mode, int MessageSize, ReceiveApi Api)
{
    /// <summary>The smallest message: it must hold the 8-byte sequence stamp.</summary>
    public const int MinMessageSize = 8;

    /// <summary>The largest message the harness sends.</summary>
    public const int MaxMessageSize = 1 << 20;
}
