namespace IIC.Transport;

/// <summary>
/// A snapshot of one side of a channel's counters (<see cref="IicChannel.GetStatistics"/>). Each counter belongs
/// to the sending or the receiving thread and is read once; they are not taken atomically together.
/// </summary>
public readonly record struct ChannelStatistics
{
    /// <summary>Messages sent.</summary>
    public long MessagesSent { get; init; }

    /// <summary>Payload bytes sent.</summary>
    public long BytesSent { get; init; }

    /// <summary>Messages received.</summary>
    public long MessagesReceived { get; init; }

    /// <summary>Payload bytes received.</summary>
    public long BytesReceived { get; init; }

    /// <summary>Sends that found the ring full and had to wait (back pressure).</summary>
    public long RingFullStalls { get; init; }

    /// <summary>Ring protocol faults raised on this side (each <see cref="Hardware.RingFaultException"/> thrown).</summary>
    public long Faults { get; init; }

    /// <summary>
    /// Fragmented messages received over <see cref="ChannelOptions.MaxReceiveMessageLength"/>: refused, their fragments
    /// dropped unread, each reported by a <see cref="ReceiveLimitExceededException"/>.
    /// </summary>
    public long MessagesRefused { get; init; }

    /// <summary>Bytes in the outgoing ring not yet returned by the peer (sent and not consumed, or consumed last by a caught-up peer, which returns them, at most min(4 KiB, ring/8), at its next receive).</summary>
    public long OutgoingOccupancy { get; init; }

    /// <summary>Doorbells that woke a sleeping peer (futex_wake calls).</summary>
    public long SignalsRaised { get; init; }

    /// <summary>Doorbells skipped because the peer was spinning or already had a wake pending.</summary>
    public long SignalsSuppressed { get; init; }

    /// <summary>How this side's receiver waited.</summary>
    public WaitStatistics Wait { get; init; }
}
