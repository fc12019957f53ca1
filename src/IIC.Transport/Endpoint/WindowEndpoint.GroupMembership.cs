using System.Diagnostics.CodeAnalysis;

namespace IIC.Transport;

/// <summary>
/// A grouped endpoint's membership: in a channel group it waits with the group (its own waits throw); out of any group it
/// waits alone, its peer's raises routed to its own block (docs/window-layout.md, the group mask).
/// </summary>
internal sealed unsafe partial class WindowEndpoint
{
    /// <summary>
    /// A wait on this endpoint alone is about to start. A grouped endpoint in a channel group throws (its group waits
    /// for it); one out of any group routes its peer's raises to its own block first (the arm that follows is the fence
    /// the doorbell pairs with). Partner of <see cref="JoinGroup"/>: a Dekker pair whose fence on this side is JoinGroup's
    /// process-wide barrier (as L1/L2), so either this wait sees the membership and throws, or JoinGroup sees the wait and refuses.
    /// </summary>
    private void BeginWaitAlone()
    {
        if (!_grouped)
        {
            return;
        }
        Volatile.Write(ref _waitingAlone, 1);
        if (Volatile.Read(ref _inGroup) != 0)
        {
            Volatile.Write(ref _waitingAlone, 0);
            ThrowInGroup();
        }
        if (Volatile.Read(ref _routedToGroup) != 0)
        {
            Volatile.Write(ref _routedToGroup, 0);
            _window.RouteRaises(_side, toGroupPage: false); // the receive role is in flight: the mapping stays
        }
    }

    /// <summary>Ends <see cref="BeginWaitAlone"/> (a no-op when none began: the flag is only ever set by this thread, under the receive role).</summary>
    private void EndWaitAlone()
    {
        if (_grouped)
        {
            Volatile.Write(ref _waitingAlone, 0);
        }
    }

    /// <summary>
    /// A channel group takes this grouped endpoint: from now on it waits with the group (its own waits throw) and its
    /// peer raises the group page. Called before the group arms the ring.
    /// </summary>
    /// <param name="asyncReceive">The channel's async receive source, if it has one: a pending asynchronous receive is a
    /// wait alone too (the dispatcher sleeps on this endpoint's own block, where a grouped peer would no longer raise).</param>
    /// <exception cref="InvalidOperationException">The channel is in another channel group, or a thread is waiting on it alone (a blocking receive, a receive with a timeout, a poll with a timeout), or an asynchronous receive is pending on it.</exception>
    /// <exception cref="ArgumentException">The channel already ended.</exception>
    internal void JoinGroup(AsyncReceiveSource? asyncReceive = null)
    {
        if (Interlocked.CompareExchange(ref _inGroup, 1, 0) != 0)
        {
            throw new InvalidOperationException("The channel is in another IicChannelGroup: remove it from that group first (a channel is waited for by one group).");
        }
        Interlocked.MemoryBarrierProcessWide(); // the Dekker partner of BeginWaitAlone's plain store and load
        if (Volatile.Read(ref _waitingAlone) != 0)
        {
            Volatile.Write(ref _inGroup, 0);
            throw new InvalidOperationException("A thread is waiting on this channel alone (a blocking or timed receive or poll): let that wait end before adding the channel to an IicChannelGroup, or receive only through the group.");
        }
        // The Dekker partner of BeginAsyncWait: the source's CAS to Waiting (a full fence) precedes its load of _inGroup,
        // our CAS and barrier above precede this load. Either that wait sees the membership and is refused, or we see it.
        if (asyncReceive is { IsWaiting: true })
        {
            Volatile.Write(ref _inGroup, 0);
            throw new InvalidOperationException("An asynchronous receive (ReceiveAsync or WaitToReceiveAsync) is pending on this channel: let it complete, or cancel it, before adding the channel to an IicChannelGroup, or receive only through the group.");
        }
        if (!TryRouteRaises(toGroupPage: true))
        {
            Volatile.Write(ref _inGroup, 0);
#pragma warning disable CA2208 // the parameter named is the public caller's (IicChannelGroup.Add's channel)
            throw new ArgumentException("The channel already ended (disposed).", "channel");
#pragma warning restore CA2208
        }
    }

    /// <summary>The channel group let this endpoint go (it disarmed the ring first): it may wait alone again.</summary>
    internal void LeaveGroup() => Volatile.Write(ref _inGroup, 0);

    /// <summary>
    /// Before an asynchronous receive (the dispatcher sleeps on <see cref="ReceivePage"/>): throws the documented misuse
    /// for a channel a group waits for; a grouped one out of any group routes its peer's raises to its own block.
    /// </summary>
    internal void PrepareAsyncWait()
    {
        if (!_grouped)
        {
            return;
        }
        if (Volatile.Read(ref _inGroup) != 0)
        {
            ThrowInGroup();
        }
        if (Volatile.Read(ref _routedToGroup) == 0)
        {
            return; // routed to its own block already: nothing to write (and no lease to take)
        }
        TryRouteRaises(toGroupPage: false); // false: disposed meanwhile, and the receive reports that
        if (Volatile.Read(ref _inGroup) != 0)
        {
            // A group took it meanwhile (misuse: Add while an async receive starts): its route is the group's, and this wait is refused.
            TryRouteRaises(toGroupPage: true);
            ThrowInGroup();
        }
    }

    /// <summary>
    /// An asynchronous wait was just marked pending on this endpoint (its source's CAS to Waiting, a full fence): refuse it
    /// if a channel group holds the endpoint (the Dekker partner of <see cref="JoinGroup"/>'s check of the source), else
    /// make sure the peer raises this endpoint's own block, where the dispatcher will sleep (a group that took and
    /// released the endpoint since <see cref="PrepareAsyncWait"/> leaves the route on its page).
    /// </summary>
    /// <exception cref="InvalidOperationException">A channel group holds the endpoint.</exception>
    internal void BeginAsyncWait()
    {
        if (!_grouped)
        {
            return;
        }
        if (Volatile.Read(ref _inGroup) != 0)
        {
            ThrowInGroup();
        }
        if (Volatile.Read(ref _routedToGroup) != 0)
        {
            TryRouteRaises(toGroupPage: false); // false: disposed meanwhile, and the wait completes with that
        }
    }

    /// <summary>
    /// Throws the misuse a waiting receive would throw now, for a call that must refuse before it changes anything
    /// (IicChannel.SendAndReceive checks before it sends). A group that takes the endpoint after this check is refused by
    /// the receive itself (<see cref="BeginWaitAlone"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">A channel group holds the endpoint.</exception>
    internal void ThrowIfInGroup()
    {
        if (_grouped && Volatile.Read(ref _inGroup) != 0)
        {
            ThrowInGroup();
        }
    }

    [DoesNotReturn]
    private static void ThrowInGroup() =>
        throw new InvalidOperationException("This channel is in an IicChannelGroup, which waits for it: wait with the group's WaitAny and then receive without waiting (TryReceive, or Poll with no timeout), or remove the channel from the group (IicChannelGroup.Remove) to wait on it alone.");
}
