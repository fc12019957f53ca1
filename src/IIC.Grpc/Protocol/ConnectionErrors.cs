namespace IIC.Grpc.Protocol;

/// <summary>Which exceptions from a channel mean the connection is gone (the call becomes <c>Unavailable</c>).</summary>
internal static class ConnectionErrors
{
    /// <summary>
    /// Every IICFast channel failure is an <see cref="IicException"/> (an IOException): the peer closed
    /// (<c>IicChannelClosedException</c>), died (<c>PeerDeadException</c>) or broke the ring; or this side was disposed.
    /// </summary>
    public static bool IsLoss(Exception e) => e is IOException or ObjectDisposedException;
}
