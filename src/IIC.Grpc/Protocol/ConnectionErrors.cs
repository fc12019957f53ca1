using IIC.Hardware;

namespace IIC.Grpc.Protocol;

/// <summary>Which exceptions from a channel mean the connection is gone (the call becomes <c>Unavailable</c>).</summary>
internal static class ConnectionErrors
{
    /// <summary>Peer closed (<see cref="ChannelClosedException"/>), peer died (<see cref="PeerDeadException"/>, an IOException), this side disposed, or a corrupt ring.</summary>
    public static bool IsLoss(Exception e) => e is IOException or ObjectDisposedException or ChannelClosedException or RingFaultException;
}
