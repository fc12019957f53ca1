using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.LineLab;

/// <summary>
/// Issue 17 round 13: the one-way ladder. 32 B messages one way as fast as the ring takes them, the same stamp and check
/// on every rung, from raw-shm's slot ring (perf/IIC.Perf/Transports/RawShm) to the public <see cref="IicChannel"/> Poll
/// the main job's one-way poll row uses. A sample is the writer's time per message over a batch of
/// <see cref="OneWay.Batch"/> messages, so a step's p50 is ns per message (lower is better; 1000 / ns = M msgs/s).
/// </summary>
internal static class OneWay
{
    public const int Batch = 1024;
    public const int Size = 32;
    public const long P1 = 0x0123456789abcdef;
    public const long P2 = 0x1111222233334444;
    public const long P3 = 0x5555666677778888;

    /// <summary>The message the writer sends for <paramref name="sequence"/> (the sequence, then three pattern words).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Stamp(Span<long> words, long sequence)
    {
        words[0] = sequence;
        words[1] = P1;
        words[2] = P2;
        words[3] = P3 ^ sequence;
    }

    /// <summary>Reads all four words: the sequence expected and the sum of the pattern.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Verify(ReadOnlySpan<byte> message, long sequence)
    {
        var words = MemoryMarshal.Cast<byte, long>(message);
        if (words.Length != 4 || words[0] != sequence || words[0] + words[1] + words[2] + (words[3] ^ sequence) != sequence + P1 + P2 + P3)
        {
            Throw(sequence, message.Length);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(long sequence, int length) => throw new InvalidDataException($"one-way message {sequence} is torn, out of order or the wrong size ({length} B)");

    /// <summary>Fills the samples of the batch that ends at <paramref name="i"/> with its ns per message (in ticks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Sample(long[] samples, int i, ref long start)
    {
        if ((i + 1) % Batch == 0)
        {
            var now = Stopwatch.GetTimestamp();
            var perMessage = (now - start) / Batch;
            samples.AsSpan(i + 1 - Batch, Batch).Fill(perMessage);
            start = now;
        }
    }

    /// <summary>The samples after the last whole batch get the last batch's value.</summary>
    public static void FillTail(long[] samples, int trips)
    {
        var whole = trips - (trips % Batch);
        if (whole < trips)
        {
            samples.AsSpan(whole).Fill(samples[Math.Max(0, whole - 1)]);
        }
    }
}

/// <summary>
/// Rung 1: raw-shm's one-way shape (SlotRingWriter / SlotRingReader, spin): fixed-stride slots with an 8-byte header
/// [length:int32][tag:int32] stored last with a release, the payload copied with Span.CopyTo; the reader polls the header
/// of its next slot, hands up to 256 messages per poll, and publishes its head every quarter ring. With
/// <paramref name="lineStride"/> the slots take a 64-byte line each (IIC_PERF_RAW_LINE_RECORDS=1: iic's density).
/// </summary>
internal sealed unsafe class RawOneWayStep(string name, string description, bool lineStride) : Step(name, description)
{
    private const int HeadOffset = 128;
    private const int DataOffset = 384;
    private const int PollLimit = 256;

    private int Stride => lineStride ? 64 : 40;

    // SlotRingLayout.For: the largest power of two of slots within ~1 MiB.
    private int Slots => 1 << (31 - BitOperations.LeadingZeroCount((uint)(LabMemory.MaxRing / Stride)));

    public override void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        var slots = ringOut + DataOffset;
        var head = (long*)(ringOut + HeadOffset);
        var stride = Stride;
        var count = Slots;
        var mask = count - 1L;
        long cachedHead = 0;
        var message = new long[OneWay.Size / sizeof(long)];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < trips; i++)
        {
            OneWay.Stamp(message, i);
            long sequence = i;
            if (sequence - cachedHead >= count)
            {
                while (sequence - (cachedHead = Volatile.Read(ref *head)) >= count)
                {
                }
            }
            var slot = slots + ((sequence & mask) * stride);
            MemoryMarshal.AsBytes(message.AsSpan()).CopyTo(new Span<byte>(slot + 8, OneWay.Size));
            Volatile.Write(ref *(long*)slot, ((long)(int)(sequence + 1) << 32) | (uint)OneWay.Size);
            OneWay.Sample(samples, i, ref start);
        }
        OneWay.FillTail(samples, trips);
    }

    public override void Server(byte* ringIn, byte* ringOut, int trips)
    {
        var reader = new Reader(ringIn, Stride, Slots);
        while (reader.Received < trips)
        {
            reader.Poll(Math.Min(PollLimit, trips - (int)reader.Received));
        }
    }

    private struct Reader(byte* ring, int stride, int count)
    {
        private readonly byte* _slots = ring + DataOffset;
        private readonly long* _head = (long*)(ring + HeadOffset);
        private readonly long _mask = count - 1;
        private readonly int _publishEvery = count / 4;
        private long _published;

        public long Received;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Poll(int limit)
        {
            var slot = _slots + ((Received & _mask) * stride);
            var header = Volatile.Read(ref *(long*)slot);
            if ((int)(header >> 32) != (int)(Received + 1))
            {
                header = Wait(slot);
            }
            var handled = 0;
            while (true)
            {
                var length = (int)header;
                if ((uint)length > (uint)(stride - 8))
                {
                    throw new InvalidDataException("bad length");
                }
                OneWay.Verify(new ReadOnlySpan<byte>(slot + 8, length), Received);
                var received = ++Received;
                if (received - _published >= _publishEvery)
                {
                    Volatile.Write(ref *_head, received);
                    _published = received;
                }
                if (++handled >= limit)
                {
                    return handled;
                }
                slot = _slots + ((Received & _mask) * stride);
                header = Volatile.Read(ref *(long*)slot);
                if ((int)(header >> 32) != (int)(Received + 1))
                {
                    return handled;
                }
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private readonly long Wait(byte* slot)
        {
            var tag = (int)(Received + 1);
            while (true)
            {
                var header = Volatile.Read(ref *(long*)slot);
                if ((int)(header >> 32) == tag)
                {
                    return header;
                }
            }
        }
    }
}

/// <summary>How <see cref="ChannelOneWayStep"/>'s two threads use the public API.</summary>
internal enum OneWayApi
{
    /// <summary>Send (one copy) and the waiting Poll through an adapter struct, as the main job's iic poll row.</summary>
    SendPoll,

    /// <summary>TryClaim/Commit (zero copy) and the waiting Poll.</summary>
    ClaimPoll,

    /// <summary>Send and TryReceive with a timeout (one copy each way), as the main job's receive row.</summary>
    SendReceive,
}

/// <summary>
/// The top rungs: one way over an <see cref="IicChannel.CreatePair"/> pair (BusySpin, 1 MiB rings, the default
/// thread-safe channel), the measuring thread sending and a thread of this process receiving, as the main job's one-way
/// rows do between two processes. The poll goes through an adapter struct that wraps the checking consumer, as
/// IicEndpoint.Poll's ConsumerAdapter does, with the same 256-message limit and 20 ms slice.
/// </summary>
internal sealed unsafe class ChannelOneWayStep(string name, string description, OneWayApi api) : Step(name, description)
{
    private const int PollLimit = 256;
    private static readonly TimeSpan s_slice = TimeSpan.FromMilliseconds(20);

    public override void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, Name = "linelab-oneway" });
        using (client)
        using (server)
        {
            Exception? failure = null;
            var sink = new Thread(() =>
            {
                try
                {
                    Sink(server, trips, api);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            })
            { IsBackground = true, Name = "linelab sink" };
            sink.Start();
            var message = new long[OneWay.Size / sizeof(long)];
            var bytes = MemoryMarshal.AsBytes(message.AsSpan());
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < trips; i++)
            {
                if (api == OneWayApi.ClaimPoll)
                {
                    ChannelClaim claim;
                    while (!client.TryClaim(OneWay.Size, out claim))
                    {
                    }
                    OneWay.Stamp(MemoryMarshal.Cast<byte, long>(claim.Span), i);
                    claim.Commit();
                }
                else
                {
                    OneWay.Stamp(message, i);
                    client.Send(bytes);
                }
                OneWay.Sample(samples, i, ref start);
            }
            OneWay.FillTail(samples, trips);
            sink.Join();
            if (failure is not null)
            {
                throw new InvalidOperationException("the sink failed", failure);
            }
        }
    }

    public override unsafe void Server(byte* ringIn, byte* ringOut, int trips)
    {
        // The sink runs on a thread of the measuring process.
    }

    private static void Sink(IicChannel server, int trips, OneWayApi api)
    {
        var check = new Check();
        if (api == OneWayApi.SendReceive)
        {
            var buffer = new byte[OneWay.Size];
            while (check.Expected < trips)
            {
                if (server.TryReceive(buffer, out var length, s_slice))
                {
                    check.OnMessage(buffer.AsSpan(0, length));
                }
            }
            return;
        }
        while (check.Expected < trips)
        {
            PollOnce(server, ref check, (int)Math.Min(PollLimit, trips - check.Expected));
        }
    }

    /// <summary>As IicEndpoint.Poll: wrap the consumer, poll, copy it back.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int PollOnce(IicChannel channel, ref Check check, int limit)
    {
        var adapter = new Adapter<Check>(check);
        while (true)
        {
            var handled = channel.Poll(ref adapter, limit, s_slice);
            if (handled > 0)
            {
                check = adapter.Consumer;
                return handled;
            }
        }
    }

    private interface IConsumer
    {
        void OnMessage(ReadOnlySpan<byte> message);
    }

    private struct Check : IConsumer
    {
        public long Expected;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            OneWay.Verify(message, Expected);
            Expected++;
        }
    }

    private struct Adapter<TConsumer>(TConsumer consumer) : IMessageHandler
        where TConsumer : struct, IConsumer
    {
        public TConsumer Consumer = consumer;

        public void OnMessage(ReadOnlySpan<byte> message) => Consumer.OnMessage(message);
    }
}

/// <summary>
/// Runs <paramref name="inner"/>'s reading half on a thread of the measuring process instead of in the child, so a rung
/// measured across processes can be compared with the channel rungs (two threads of one process) in the same placement.
/// </summary>
internal sealed unsafe class ThreadPairStep(string name, string description, Step inner) : Step(name, description)
{
    public override void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        Exception? failure = null;
        var (outAddress, inAddress) = ((nint)ringOut, (nint)ringIn);
        var sink = new Thread(() =>
        {
            try
            {
                inner.Server((byte*)outAddress, (byte*)inAddress, trips);
            }
            catch (Exception e)
            {
                failure = e;
            }
        })
        { IsBackground = true, Name = "linelab sink" };
        sink.Start();
        inner.Client(ringOut, ringIn, trips, samples);
        sink.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("the sink failed", failure);
        }
    }

    public override void Server(byte* ringIn, byte* ringOut, int trips)
    {
        // The sink runs on a thread of the measuring process.
    }
}
