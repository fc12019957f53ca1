using System.Diagnostics;
using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Transport;

namespace IIC.Perf.Transports.Iic;

/// <summary>One end of an iic link: an <see cref="IicChannel"/>, with every wait bounded by the run's guard.</summary>
internal sealed class IicEndpoint(IicChannel channel, RunGuard guard, Partition? ownedPartition) : IMessageEndpoint, IInPlaceReceiver
{
    public void Send(ReadOnlySpan<byte> message) => channel.Send(message);

    public int Receive(Span<byte> buffer)
    {
        while (true)
        {
            try
            {
                if (channel.TryReceive(buffer, out var length, guard.Remaining))
                {
                    return length;
                }
            }
            catch (IicChannelClosedException e)
            {
                throw new PeerGoneException("The peer closed the channel.", e);
            }
            guard.Check();
        }
    }

    public int Poll<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer
    {
        var adapter = new ConsumerAdapter<TConsumer>(consumer);
        try
        {
            while (true)
            {
                var handled = channel.Poll(ref adapter, limit);
                if (handled > 0)
                {
                    consumer = adapter.Consumer;
                    return handled;
                }
                var deadline = Stopwatch.GetTimestamp() + (long)(guard.Remaining.TotalSeconds * Stopwatch.Frequency);
                if (!channel.Endpoint.WaitToReceive(deadline))
                {
                    guard.Check();
                }
            }
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed the channel.", e);
        }
    }

    public void Dispose()
    {
        channel.Dispose();
        ownedPartition?.Dispose();
    }

    /// <summary>Hands IIC.Hardware's in-place messages to the harness's consumer (same shape, one inlined call).</summary>
    private struct ConsumerAdapter<TConsumer>(TConsumer consumer) : IMessageHandler
        where TConsumer : struct, IMessageConsumer
    {
        public TConsumer Consumer = consumer;

        public void OnMessage(ReadOnlySpan<byte> message) => Consumer.OnMessage(message);
    }
}
