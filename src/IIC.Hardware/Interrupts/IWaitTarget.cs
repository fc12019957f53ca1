namespace IIC.Hardware;

/// <summary>
/// What a <see cref="Waiter"/> waits on: usually one ring's reader, or a group of rings. Implemented by structs
/// so the wait loop is specialised and inlined per target type.
/// </summary>
public interface IWaitTarget
{
    /// <summary>
    /// True when the waiter should return: data is available, or something the caller must see happened
    /// (peer closed or dead, ring faulted). Called in the spin loop: keep it to a few loads.
    /// </summary>
    bool IsReady { get; }

    /// <summary>Marks the ring(s) armed with a full fence (the receiver's half of the Dekker handshake).</summary>
    void Arm();

    /// <summary>Marks the ring(s) not armed: senders skip the doorbell while the receiver spins.</summary>
    void Disarm();
}
