using IIC.Transport;

namespace IIC.Grpc.Protocol;

// CallConnection, the peer's end as a send finds it: before the reader thread reaches it (docs/grpc-call-protocol.md 1).
internal abstract partial class CallConnection
{
    private int _sendFoundPeerGone; // 1 once a send threw because the peer closed or died (any thread writes; any reads)

    /// <summary>
    /// Whether a send on this connection found the peer closed or dead (round 23). The connection ends only when its reader
    /// thread reaches the end of what the peer sent (<see cref="IsClosed"/>), which may be late (it handles the frames before
    /// the end first, or an inline continuation holds it); meanwhile nothing more can be sent here, so the client's invoker
    /// gives new calls another connection (IicCallInvoker.GetConnection) rather than this one, whose first send would throw.
    /// </summary>
    public bool SendFoundPeerGone => Volatile.Read(ref _sendFoundPeerGone) != 0;

    /// <summary>
    /// Notes a send's failure <paramref name="e"/> when it says the peer closed or died (<see cref="SendFoundPeerGone"/>).
    /// Always false: an exception filter, so it runs where the send threw and catches nothing.
    /// </summary>
    private bool NoteSendFailure(Exception e)
    {
        if (e is IicChannelClosedException or PeerDeadException)
        {
            Volatile.Write(ref _sendFoundPeerGone, 1);
        }
        return false;
    }
}
