namespace IIC.Grpc.Protocol;

// CallConnection, one try to send at once: the send lock taken at once or after a brief spin, never while sends are queued
// for the connection's sender (CallConnection.Queue.cs), and the record sent only if it fits now.
internal abstract partial class CallConnection
{
    /// <summary>
    /// The send lock for one try (<see cref="TryNow"/>, TrySendNowClaimed): at once, or after a brief spin while its holder
    /// only copies a record; false (not taken) once sends are queued for the connection's sender or the spin ran out.
    /// </summary>
    private bool TryEnterSendLockBriefly()
    {
        if (_sendLock.TryEnter())
        {
            return true;
        }
        var spinner = default(SpinWait);
        do
        {
            if (Volatile.Read(ref _queued) != 0 || spinner.Count >= LockSpins)
            {
                return false;
            }
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        while (!_sendLock.TryEnter());
        return true;
    }

    /// <summary>
    /// The one try of every sender but the reader thread and the queue's sender: the send lock (waited for briefly, by
    /// spinning, while its holder only copies), nothing queued, and room in the ring now. False: nothing was sent.
    /// The path where the lock is free and the ring has room is TryEnter, one read, TrySend, Exit.
    /// </summary>
    private bool TryNow(ReadOnlySpan<byte> frame) => TryEnterSendLockBriefly() && TrySendHoldingLock(frame);

    /// <summary>
    /// With the send lock taken by the caller: sends <paramref name="frame"/> if nothing is queued for the connection's
    /// sender and the ring has room now, noting a peer gone (CallConnection.PeerEnd.cs); releases the lock either way.
    /// </summary>
    /// <exception cref="IOException">The peer closed or died (nothing of the frame was published).</exception>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)] // on every try of a write, a Cancel, a HalfClose
    private bool TrySendHoldingLock(ReadOnlySpan<byte> frame)
    {
        try
        {
            return Volatile.Read(ref _queued) == 0 && _channel.TrySend(frame);
        }
        catch (IOException e) when (NoteSendFailure(e))
        {
            throw; // never: the filter only notes a peer gone (CallConnection.PeerEnd.cs)
        }
        finally
        {
            _sendLock.Exit();
        }
    }
}
