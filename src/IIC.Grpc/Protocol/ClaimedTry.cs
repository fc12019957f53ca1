namespace IIC.Grpc.Protocol;

/// <summary>
/// How one try to send at once a frame its owner claims only holding room went (<see cref="CallConnection.TrySendFrameNowClaimed"/>,
/// round 24): a client call's CallStart, which the connection's end may take back until the claim.
/// </summary>
internal enum ClaimedTry : byte
{
    /// <summary>It could not go now (the send lock busy, sends queued, no room): nothing of it was written and the owner was not asked.</summary>
    NotNow,

    /// <summary>The owner claimed it holding room, and it was written and published.</summary>
    Sent,

    /// <summary>The owner had been taken back (its connection ended first): the room was given back unwritten.</summary>
    TakenBack,
}
