using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Transport;

namespace IIC.Perf.Transports.Iic;

/// <summary>One end of an iic link: an <see cref="IicChannel"/>, with every wait bounded by the run's guard.</summary>
internal sealed class IicEndpoint(IicChannel channel, RunGuard guard, Partition? ownedPartition) : IMessageEndpoint, IInPlaceReceiver, IClaimSender, IZeroCopyEndpoint
{
    // Empty claim attempts between checks of the run's guard (and one yield of the CPU): tens of µs.
    private const int ClaimSpinInterval = (1 << 14) - 1;

    // The longest a waiting poll runs before the run's guard is checked (a run overshoots its limit by at most this).
    private static readonly TimeSpan GuardSlice = TimeSpan.FromMilliseconds(20);

    public void Send(ReadOnlySpan<byte> message) => channel.Send(message);

    public int Receive(Span<byte> buffer)
    {
        while (true)
        {
            try
            {
                // A fixed slice as Poll takes, not guard.Remaining: that read the clock on every message (raw-shm reads
                // none), and TryReceive reads it only when the ring is empty. The guard is checked after each slice.
                if (channel.TryReceive(buffer, out var length, GuardSlice))
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
            // The waiting poll: the receive side is entered once per call (not poll, wait, poll), the clock read only when
            // empty. A fixed slice, not guard.Remaining, so a hop reads no clock; the guard is checked after each slice.
            while (true)
            {
                var handled = channel.Poll(ref adapter, limit, GuardSlice);
                if (handled > 0)
                {
                    consumer = adapter.Consumer;
                    return handled;
                }
                guard.Check();
            }
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed the channel.", e);
        }
    }

    /// <summary>Claims room (spinning while the ring is full, bounded by the guard), lets the writer fill it, commits.</summary>
    public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
        where TWriter : struct, IMessageWriter, allows ref struct
    {
        var spins = 0;
        ChannelClaim claim;
        while (!channel.TryClaim(length, out claim))
        {
            if ((++spins & ClaimSpinInterval) == 0)
            {
                CheckGuardAndYield();
            }
        }
        writer.Write(claim.Span);
        claim.Commit();
    }

    /// <summary>
    /// Out of line: Thread.Yield is an inlined P/Invoke, and a method holding one sets up its P/Invoke frame
    /// (CORINFO_HELP_INIT_PINVOKE_FRAME) in its prolog on every call, i.e. on every message of SendInPlace.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void CheckGuardAndYield()
    {
        guard.Check();
        Thread.Yield();
    }

    public TResult Run<TResult>(IZeroCopyVisitor<TResult> visitor)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        return visitor.Visit(new Link(this));
    }

    public void Dispose()
    {
        channel.Dispose();
        ownedPartition?.Dispose();
    }

    /// <summary>This endpoint as a struct of its own type: the harness's loop calls it directly (see IZeroCopyEndpoint).</summary>
    private readonly struct Link(IicEndpoint endpoint) : IZeroCopyLink
    {
        public int Poll<TConsumer>(ref TConsumer consumer, int limit)
            where TConsumer : struct, IMessageConsumer
            => endpoint.Poll(ref consumer, limit);

        public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
            where TWriter : struct, IMessageWriter, allows ref struct
            => endpoint.SendInPlace(length, ref writer);
    }

    /// <summary>Hands IIC.Hardware's in-place messages to the harness's consumer (same shape, one inlined call).</summary>
    private struct ConsumerAdapter<TConsumer>(TConsumer consumer) : IMessageHandler
        where TConsumer : struct, IMessageConsumer
    {
        public TConsumer Consumer = consumer;

        public void OnMessage(ReadOnlySpan<byte> message) => Consumer.OnMessage(message);
    }
}
