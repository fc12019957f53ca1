namespace IIC.Hardware;

/// <summary>A Connect waiting for its service to be offered.</summary>
internal sealed record PendingConnect(ControlClient Client, uint RequestId, string Service, int RingCapacity, bool Grouped, long Deadline);
