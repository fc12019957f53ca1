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
/// The channels test's client end: N channels, each round trip on a pseudo-randomly chosen one (the same sequence
/// every run), so the server's group finds a different member ready each time.
/// </summary>
internal sealed class IicRotatingEndpoint(IicChannel[] channels, RunGuard guard) : IMessageEndpoint
{
    private uint _random = 0x9E3779B9;
    private int _current;

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
            _random ^= _random << 13;
            _random ^= _random >> 17;
            _random ^= _random << 5;
            var received = length;
            _current = (int)(_random % (uint)channels.Length);
            return received;
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
