namespace IIC.Hardware;

/// <summary>A Connect waiting for its service to be offered, or for its busy listener to make room (until <see cref="Deadline"/>, Stopwatch ticks).</summary>
internal sealed class PendingConnect(ControlClient client, uint requestId, string service, int ringCapacity, bool grouped, long deadline)
{
    public ControlClient Client { get; } = client;

    public uint RequestId { get; } = requestId;

    public string Service { get; } = service;

    public int RingCapacity { get; } = ringCapacity;

    public bool Grouped { get; } = grouped;

    public long Deadline { get; } = deadline;

    /// <summary>Its node in the per-service queue (O(1) removal).</summary>
    public LinkedListNode<PendingConnect>? Node { get; set; }

    /// <summary>Granted, expired or dropped: the deadline heap skips it.</summary>
    public bool Done { get; set; }
}
