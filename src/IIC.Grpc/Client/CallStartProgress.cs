namespace IIC.Grpc.Client;

/// <summary>
/// How far the CallStart of a call's current registration on a connection got (<see cref="ClientCallBase.StartProgress"/>):
/// whether the call may still start again on another connection when this one ends (a transparent retry,
/// docs/grpc-call-protocol.md 1, ClientCall.Retry.cs). Every move is one compare-and-swap, so of the start (its claims of
/// the send) and the connection's end (OnConnectionLost), whichever comes first decides.
/// </summary>
internal enum CallStartProgress : byte
{
    /// <summary>Its start has not claimed the send: nothing of it can be in a ring. Every registration begins here.</summary>
    Unsent,

    /// <summary>Its start (or the connection's sender, from <see cref="Queued"/>) claimed the send: from here its CallStart may be in the ring, so it is never started again.</summary>
    MayBeSent,

    /// <summary>Its connection ended before the send was claimed (from <see cref="Unsent"/> or <see cref="Queued"/>): whoever runs its start next starts the call again instead.</summary>
    LostBeforeSent,

    /// <summary>
    /// Its CallStart waits in the connection's queue for the sender (round 22), or in the reader thread's deferred frames
    /// (round 23), none of it in the ring: the sender, or the reader thread, claims the send (to <see cref="MayBeSent"/>)
    /// only once it holds room for the first byte, so the connection's end can still take it (to <see cref="LostBeforeSent"/>).
    /// </summary>
    Queued,

    /// <summary>
    /// Its queued CallStart failed unclaimed (the channel ended) before the connection's end reached the call, or (round 23)
    /// its start's one-record try threw on the ended channel with nothing published: that end, when it comes, starts the
    /// call again (it is the one that takes the call off the connection).
    /// </summary>
    QueueFailed,
}
