using System.Diagnostics;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// Waits on many grouped channels with one thread (fan-in): every member receives through its partition's
/// interrupt group, so a wake costs a scan of the channels that were signalled, not of all of them, and an idle
/// group sleeps on one futex. Make the channels with <see cref="ChannelOptions.Grouped"/>; one group (and one
/// receiving thread) per partition. Not thread safe.
/// </summary>
public sealed class IicChannelGroup
{
    private readonly GroupReceiver _receiver;

    /// <summary>Creates the group of <paramref name="partition"/>'s grouped channels.</summary>
    public IicChannelGroup(Partition partition, WaitStrategy? strategy = null)
    {
        ArgumentNullException.ThrowIfNull(partition);
        _receiver = new GroupReceiver(partition.Group, strategy ?? WaitStrategy.Adaptive);
    }

    /// <summary>Members now.</summary>
    public int Count => _receiver.Count;

    /// <summary>The group's waiter (strategy, learned state, counters); read them with <see cref="GetStatistics"/>.</summary>
    internal Waiter Waiter => _receiver.Waiter;

    /// <summary>A snapshot of how the group's receiving thread waited.</summary>
    public WaitStatistics GetStatistics() => WaitStatistics.Of(_receiver.Waiter);

    /// <summary>Adds a grouped channel of this partition; messages that arrived before are reported too.</summary>
    /// <exception cref="ArgumentException">The channel is not grouped on this partition.</exception>
    public void Add(IicChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _receiver.Add(channel.Endpoint, channel);
    }

    /// <summary>Removes a channel (e.g. once it ended).</summary>
    public void Remove(IicChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _receiver.Remove(channel.Endpoint);
    }

    /// <summary>
    /// Waits until a member has a message (or ended) and returns it; receive from it with TryReceive or Poll
    /// (which throw <see cref="IicChannelClosedException"/> or <see cref="PeerDeadException"/> once it ended).
    /// </summary>
    /// <returns>The ready channel, or null if none became ready within <paramref name="timeout"/>.</returns>
    public IicChannel? WaitAny(TimeSpan timeout)
    {
        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue
            : timeout <= TimeSpan.Zero ? 0
            : Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        return _receiver.WaitAny(deadline, out var tag) is null ? null : (IicChannel)tag!;
    }
}
