using IIC.Native;

namespace IIC.Transport;

/// <summary>The receiving role, zero copy with a wait: one entry into the role for the poll, the wait and the poll after it.</summary>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// Hands up to <paramref name="limit"/> messages to <paramref name="handler"/> in place, waiting (by the channel's
    /// wait strategy) at most <paramref name="timeout"/> for the first one. The clock is read only when the ring is
    /// empty: a message that is already there costs what <see cref="Poll{THandler}(ref THandler, int)"/> costs.
    /// </summary>
    /// <returns>The number of messages handled; 0 when none arrived in time.</returns>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="InvalidOperationException">The endpoint receives through an interrupt group and <paramref name="timeout"/> is not zero.</exception>
    /// <exception cref="ObjectDisposedException">The channel was disposed (also while this call waited).</exception>
    public int Poll<THandler>(ref THandler handler, int limit, TimeSpan timeout)
        where THandler : struct, IMessageHandler, allows ref struct
    {
        EnterReceiving();
        try
        {
            if (timeout != TimeSpan.Zero)
            {
                ThrowIfGrouped(); // before anything is received: a grouped endpoint's interrupt page is the group's, so is its wait
            }
            ThrowIfPeerEnded();
            var handled = PollOnce(ref handler, limit);
            if (handled > 0 || timeout == TimeSpan.Zero)
            {
                return handled;
            }
            var deadline = Deadline.After(timeout, nameof(timeout)); // validated by the caller: cannot throw here
            while (true)
            {
                var target = new ReadTarget(this);
                if (!_waiter.Wait(ref target, deadline.Timestamp))
                {
                    return 0;
                }
                ThrowIfDisposed(); // disposed from another thread while we waited
                handled = PollOnce(ref handler, limit);
                if (handled > 0)
                {
                    return handled;
                }
                // Ready but nothing whole to hand out (a fragmented message still arriving): wait again.
            }
        }
        finally
        {
            ExitReceiving();
        }
    }
}
