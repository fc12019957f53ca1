using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// Waits on many grouped channels with one thread (fan-in): every member receives through the group page its
/// partition shares with that channel's peer partition (one page per peer, so a peer can disturb only its own
/// channels), a wake costs a scan of the channels that were signalled, not of all of them, and an idle group sleeps
/// on all its pages with one futex_waitv. Make the channels with <see cref="ChannelOptions.Grouped"/>; one group (and
/// one receiving thread) per partition, with grouped channels from at most 128 peer partitions. Not thread safe.
/// </summary>
public sealed class IicChannelGroup
{
    private readonly GroupReceiver _receiver;

    /// <summary>Creates the group of <paramref name="partition"/>'s grouped channels.</summary>
    public IicChannelGroup(Partition partition, WaitStrategy? strategy = null)
    {
        ArgumentNullException.ThrowIfNull(partition);
        _receiver = new GroupReceiver(partition.FindReceiveGroup, strategy ?? WaitStrategy.Adaptive);
    }

    /// <summary>Members now.</summary>
    public int Count => _receiver.Count;

    /// <summary>The group's waiter (strategy, learned state, counters); read them with <see cref="GetStatistics"/>.</summary>
    internal Waiter Waiter => _receiver.Waiter;

    /// <summary>The receiver (tests look at its pages).</summary>
    internal GroupReceiver Receiver => _receiver;

    /// <summary>A snapshot of how the group's receiving thread waited.</summary>
    public WaitStatistics GetStatistics() => WaitStatistics.Of(_receiver.Waiter);

    /// <summary>Adds a grouped channel of this partition; messages that arrived before are reported too.</summary>
    /// <exception cref="ArgumentException">The channel is not grouped on this partition, it ended already, or it is a member already.</exception>
    /// <exception cref="InvalidOperationException">The group already waits on 128 peers' pages (remove ended channels first), another group of this partition already receives channels from the same peer partition or holds this channel (one group per partition), or a thread is waiting on the channel alone, or an asynchronous receive is pending on it (let that receive end first); nothing was changed.</exception>
    public void Add(IicChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _receiver.Add(channel.Endpoint, channel, channel.AsyncReceive);
    }

    /// <summary>
    /// Removes a channel (e.g. once it ended, or to wait on it alone: a removed channel's blocking, timed and async
    /// receives work again). Removing the last channel with a peer drops that peer's page: its later writes reach nothing.
    /// </summary>
    public void Remove(IicChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _receiver.Remove(channel.Endpoint);
    }

    /// <summary>
    /// Waits until a member has a message (or ended) and returns it; receive from it with TryReceive or Poll
    /// (which throw <see cref="IicChannelClosedException"/> or <see cref="PeerDeadException"/> once it ended).
    /// </summary>
    /// <param name="timeout">Zero to look once; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/> for no limit.</param>
    /// <returns>The ready channel, or null if none became ready within <paramref name="timeout"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    public IicChannel? WaitAny(TimeSpan timeout)
    {
        var deadline = Native.Deadline.After(timeout, nameof(timeout));
        return _receiver.WaitAny(deadline.Timestamp, out var tag) is null ? null : (IicChannel)tag!;
    }
}
