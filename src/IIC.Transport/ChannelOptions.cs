using IIC.Hardware;

namespace IIC.Transport;

/// <summary>How a channel is shaped and how its receiver waits.</summary>
public sealed record ChannelOptions
{
    /// <summary>The defaults: 1 MiB per direction, adaptive waiting.</summary>
    public static ChannelOptions Default { get; } = new();

    /// <summary>How the receiver waits for messages (default <see cref="WaitStrategy.Adaptive"/>).</summary>
    public WaitStrategy WaitStrategy { get; init; } = WaitStrategy.Adaptive;

    /// <summary>Bytes of each direction's ring (a power of two, 1 KiB to 1 GiB; default 1 MiB). A quarter of it is the largest unfragmented message.</summary>
    public int RingCapacity { get; init; } = WindowOptions.DefaultRingCapacity;

    /// <summary>
    /// Receive through the partition's interrupt group, so one thread waits on many channels with an
    /// <see cref="IicChannelGroup"/> (fan-in). A grouped channel is received only after the group reported it
    /// ready (non-waiting TryReceive or Poll); its blocking and async receives throw.
    /// </summary>
    public bool Grouped { get; init; }

    /// <summary>A name for metrics and events (the service name when connected through a partition).</summary>
    public string Name { get; init; } = "channel";
}
