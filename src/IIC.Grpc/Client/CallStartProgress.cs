namespace IIC.Grpc.Client;

/// <summary>
/// How far the CallStart of a call's current registration on a connection got (<see cref="ClientCallBase.StartProgress"/>):
/// whether the call may still start again on another connection when this one ends (a transparent retry,
/// docs/grpc-call-protocol.md 1, ClientCall.Retry.cs). Moved on from Unsent by one compare-and-swap, by the call's start
/// (its claim of the send) or by the connection's end, whichever comes first.
/// </summary>
internal enum CallStartProgress : byte
{
    /// <summary>Its start has not claimed the send: nothing of it can be in a ring. Every registration begins here.</summary>
    Unsent,

    /// <summary>Its start claimed the send: from here its CallStart may be in the ring, so it is never started again.</summary>
    MayBeSent,

    /// <summary>Its connection ended before the start claimed the send: the start, when it runs, starts the call again instead.</summary>
    LostBeforeSent,
}
