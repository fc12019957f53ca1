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

    /// <summary>
    /// IicChannel.SendAndReceive without a token (the token overload read 10 ns slower per near round trip until it
    /// skipped zeroing its locals, and alike after: perf/RESULTS.md "Round 25"). Bounded all the same: a server that dies ends the call
    /// (PeerDeadException), and one that hangs is killed by the run's watchdog at its limit (MeasurementRunner,
    /// InterleavedPair), which ends it so.
    /// </summary>
    public int SendAndReceive(ReadOnlySpan<byte> message, Span<byte> buffer)
    {
        try
        {
            return channel.SendAndReceive(message, buffer);
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed the channel.", e);
        }
    }

    public int Poll<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer
    {
        try
        {
            return PollWaiting(ref consumer, limit);
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed the channel.", e);
        }
    }

    /// <summary>
    /// The waiting poll: the receive side is entered once per call (not poll, wait, poll), the clock read only when empty.
    /// A fixed slice, not guard.Remaining, so a hop reads no clock; the guard is checked after each slice. The channel
    /// hands each message to <paramref name="consumer"/> itself, through a reference (round 14: the adapter held a copy,
    /// copied in before and back after every poll, a GC write barrier for the echo's consumer, whose link holds this
    /// endpoint). No handler here: <see cref="Poll"/> and <see cref="Run"/> turn the channel's close into the harness's
    /// <see cref="PeerGoneException"/>.
    /// </summary>
    private int PollWaiting<TConsumer>(ref TConsumer consumer, int limit)
        where TConsumer : struct, IMessageConsumer
    {
        var adapter = new ConsumerReference<TConsumer>(ref consumer);
        while (true)
        {
            var handled = channel.Poll(ref adapter, limit, GuardSlice);
            if (s_pollStats)
            {
                CountPoll(handled);
            }
            if (handled > 0)
            {
                return handled;
            }
            guard.Check();
        }
    }

    /// <summary>
    /// Claims room (spinning while the ring is full, bounded by the guard), lets the writer fill it, commits. The first
    /// claim inline (round 14): in the echo the claim's first store into the reply's line starts its fetch for ownership,
    /// and this method's own entry (six pushes, a zeroed frame) no longer runs before it; a ring with no room waits out of line.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
        where TWriter : struct, IMessageWriter, allows ref struct
    {
        if (channel.TryClaim(length, out var claim))
        {
            writer.Write(claim.Span);
            claim.Commit();
            return;
        }
        SendInPlaceWaiting(length, ref writer);
    }

    /// <summary><see cref="SendInPlace"/> when the ring had no room: claims again until it does, bounded by the guard.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void SendInPlaceWaiting<TWriter>(int length, scoped ref TWriter writer)
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
        try
        {
            return visitor.Visit(new Link(this));
        }
        catch (IicChannelClosedException e)
        {
            throw new PeerGoneException("The peer closed the channel.", e);
        }
    }

    /// <summary>
    /// <c>IIC_PERF_POLL_STATS=1</c> (issue 17 round 13): count the waiting polls and the messages each handed out, and print
    /// the distribution to stderr when the endpoint is disposed: how often a one-way sink found itself caught up with its
    /// writer (a poll that hands out 1 or 2 messages) rather than draining a backlog (up to the 256-message limit).
    /// </summary>
    private static readonly bool s_pollStats = Environment.GetEnvironmentVariable("IIC_PERF_POLL_STATS") == "1";

    private long _polls;
    private long _polled;
    private long _emptyPolls;
    private readonly long[] _pollSizes = new long[10]; // handed out: 1, 2, 3-4, 5-8, ... 257+ (log2 buckets)

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void CountPoll(int handled)
    {
        _polls++;
        _polled += handled;
        if (handled == 0)
        {
            _emptyPolls++;
            return;
        }
        _pollSizes[Math.Min(_pollSizes.Length - 1, 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)handled - 1))]++;
    }

    private void ReportPolls()
    {
        if (!s_pollStats || _polls == 0)
        {
            return;
        }
        var buckets = string.Join(' ', _pollSizes.Select((n, i) => $"{(i == 0 ? "1" : $"{(1 << (i - 1)) + 1}-{1 << i}")}:{n}"));
        Console.Error.WriteLine($"iic poll stats (pid {Environment.ProcessId}): {_polls} polls, {_polled} messages, {(double)_polled / Math.Max(1, _polls - _emptyPolls):F1} per non-empty poll, {_emptyPolls} empty; handed out per poll {buckets}");
    }

    public void Dispose()
    {
        ReportPolls();
        channel.Dispose();
        ownedPartition?.Dispose();
    }

    /// <summary>This endpoint as a struct of its own type: the harness's loop calls it directly (see IZeroCopyEndpoint).</summary>
    private readonly struct Link(IicEndpoint endpoint) : IZeroCopyLink
    {
        public int Poll<TConsumer>(ref TConsumer consumer, int limit)
            where TConsumer : struct, IMessageConsumer
            => endpoint.PollWaiting(ref consumer, limit); // Run turns the channel's close into PeerGoneException

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public void SendInPlace<TWriter>(int length, scoped ref TWriter writer)
            where TWriter : struct, IMessageWriter, allows ref struct
            => endpoint.SendInPlace(length, ref writer);
    }

    /// <summary>Hands IIC.Hardware's in-place messages to the harness's consumer, the caller's own (a reference: nothing copied).</summary>
    private readonly ref struct ConsumerReference<TConsumer>(ref TConsumer consumer) : IMessageHandler
        where TConsumer : struct, IMessageConsumer
    {
        private readonly ref TConsumer _consumer = ref consumer;

        public void OnMessage(ReadOnlySpan<byte> message) => _consumer.OnMessage(message);
    }
}
