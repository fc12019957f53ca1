namespace IIC.Grpc.Protocol;

// CallConnection, a queued frame its owner may take back until the sender holds room for it (round 22): a client call's
// CallStart, which the connection's end takes back while none of it is in the ring, so the call can start again on another
// connection (docs/grpc-call-protocol.md 1).
internal abstract partial class CallConnection
{
    /// <summary>
    /// The sender's try for the first record of a frame its owner may take back (<see cref="IQueuedSendClaim"/>): room is
    /// claimed first (nothing the peer can read), then the owner's word; only then is the record written and published.
    /// So a frame the owner took back never has a byte in the ring, and one it let go is in the ring or failed with the
    /// channel. False: no room now (the owner is not asked).
    /// </summary>
    /// <exception cref="IOException">The owner took it back (its connection ended first): nothing of it was sent.</exception>
    private bool TrySendClaimed(ReadOnlySpan<byte> frame, IQueuedSendClaim claim, QueuedSend item)
    {
        if (!_sendLock.TryEnter())
        {
            var spinner = default(SpinWait);
            do
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            while (!_sendLock.TryEnter());
        }
        try
        {
            if (!_channel.TryClaim(frame.Length, out var room))
            {
                return false;
            }
            if (!claim.TryClaimQueuedSend())
            {
                room.Abort(); // the peer skips it: no frame
                throw new IOException("The call's start was not sent: its connection ended first (it starts again on another).");
            }
            frame.CopyTo(room.Span);
            room.Commit();
            item.Claim = null; // claimed: the rest of the frame (if in pieces) goes as any frame's
            return true;
        }
        finally
        {
            _sendLock.Exit();
        }
    }
}
