using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Transport;

namespace IIC.Perf.Transports.Iic;

/// <summary>
/// The channels test's server end: N grouped channels that one thread waits on through an
/// <see cref="IicChannelGroup"/> (one futex for all of them when idle). Receive takes the next message of whichever
/// channel is ready; Send answers on the channel the last message came from.
/// </summary>
internal sealed class IicGroupEndpoint(IicChannelGroup group, IicChannel[] channels, RunGuard guard, Partition partition) : IMessageEndpoint
{
    private IicChannel? _current;

    public void Send(ReadOnlySpan<byte> message)
        => (_current ?? throw new InvalidOperationException("Nothing was received yet: there is no channel to answer on.")).Send(message);

    public int Receive(Span<byte> buffer)
    {
        try
        {
            while (true)
            {
                if (_current is { } channel && channel.TryReceive(buffer, out var length))
                {
                    return length;
                }
                _current = group.WaitAny(guard.Remaining);
                if (_current is null)
                {
                    guard.Check();
                }
            }
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed a channel.", e);
        }
    }

    public void Dispose()
    {
        foreach (var channel in channels)
        {
            channel.Dispose();
        }
        partition.Dispose();
    }
}

/// <summary>
/// The channels test's client end: N channels. By default every round trip goes over the last channel opened (the one
/// whose vector sits furthest into the server's group page) while the other N-1 stay open and idle: what the issue
/// asks, the wake-up of a sleeping receiver with N-1 other idle channels. With spread traffic each round trip takes a
/// pseudo-random channel (the same sequence every run), so each channel's memory and each waiter's learned state see
/// 1/N of the traffic: what spreading traffic over N channels costs, cold caches and TLB included.
/// </summary>
internal sealed class IicChannelsClientEndpoint(IicChannel[] channels, bool spread, RunGuard guard) : IMessageEndpoint
{
    private uint _random = 0x9E3779B9;
    private int _current = channels.Length - 1;

    /// <summary>The N channels, in the order they were opened (the channels test drives them itself).</summary>
    public IicChannel[] Channels => channels;

    public void Send(ReadOnlySpan<byte> message) => channels[_current].Send(message);

    public int Receive(Span<byte> buffer)
    {
        var channel = channels[_current];
        try
        {
            int length;
            while (!channel.TryReceive(buffer, out length, guard.Remaining))
            {
                guard.Check();
            }
            if (spread)
            {
                _random ^= _random << 13;
                _random ^= _random >> 17;
                _random ^= _random << 5;
                _current = (int)(_random % (uint)channels.Length);
            }
            return length;
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed a channel.", e);
        }
    }

    public void Dispose()
    {
        foreach (var channel in channels)
        {
            channel.Dispose();
        }
    }
}
