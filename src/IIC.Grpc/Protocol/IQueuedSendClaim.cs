namespace IIC.Grpc.Protocol;

/// <summary>
/// A frame queued for the connection's sender (or deferred on its reader thread, round 23) that may go only if its owner
/// still lets it when the sender (or that thread) holds room for its first byte: a client call's CallStart, which the connection's end may take back while it waits (a transparent
/// retry of a call that sent nothing, docs/grpc-call-protocol.md 1). The sender claims the room (<c>IicChannel.TryClaim</c>:
/// nothing the peer can read), then asks <see cref="TryClaimQueuedSend"/>; no, and the room is given back unwritten.
/// </summary>
internal interface IQueuedSendClaim
{
    /// <summary>
    /// A try to send the frame at once holds room for it (round 24): true to send it (from here it may be in the ring),
    /// false to drop it unsent (the connection's end took it back first). Before any queueing.
    /// </summary>
    bool TryClaimSend();

    /// <summary>
    /// The frame did not go at once and is about to be queued: from here only <see cref="TryClaimQueuedSend"/> lets it into
    /// the ring. False: the connection's end took it back first (round 24), and it must not be queued.
    /// </summary>
    bool OnQueued();

    /// <summary>The sender holds room for the frame's first byte: true to send it (from here it may be in the ring), false to drop it unsent.</summary>
    bool TryClaimQueuedSend();
}
