namespace IIC.Perf.Core;

/// <summary>
/// What both ends of one measurement agree on before they connect. Every message of a run has the same size
/// (control messages included), so stream transports frame by size alone, with no length prefix.
/// </summary>
/// <param name="Test">The measurement.</param>
/// <param name="Mode">The wait mode (one of <see cref="WaitModes"/>).</param>
/// <param name="MessageSize">Bytes per message, 8 B to 64 MiB.</param>
/// <param name="Api">How the throughput receiver takes messages.</param>
/// <param name="Channels">Channels between the two processes (the channels test; otherwise 1).</param>
/// <param name="SpreadTraffic">The channels test: every round trip on a pseudo-random channel (otherwise all on one, the others idle).</param>
internal sealed record LinkOptions(BenchTest Test, string Mode, int MessageSize, ReceiveApi Api, int Channels = 1, bool SpreadTraffic = false)
{
    /// <summary>The smallest message: it must hold the 8-byte sequence stamp.</summary>
    public const int MinMessageSize = 8;

    /// <summary>The largest message the harness sends (the sizes test).</summary>
    public const int MaxMessageSize = 64 << 20;

    /// <summary>The size of the throughput test's memcpy yardstick.</summary>
    public const int MemcpySize = 1 << 20;
}
