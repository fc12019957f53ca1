using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Perf.Transports.Iic;
using IIC.Transport;

namespace IIC.LineLab;

/// <summary>
/// Issue 17 round 14: the poll-claim echo ladder's upper rungs, in the lab's process pair (not two threads of one
/// process, as <see cref="ChannelStep"/>): one <see cref="IicChannel"/> per process on a window the two share
/// (<see cref="Open"/>: the internal <c>IicChannel.Open</c>, by reflection, once per process and variant: a second
/// channel with the writer-cleans switch on), BusySpin, the main job's
/// ring (1 MiB), kept open across rounds (both sides consume every message of a step, so each step starts on an empty
/// ring where the last one stopped).
/// <list type="bullet">
/// <item><see cref="EchoApi.Channel"/>: the public API with the lab's own check (four words summed): TryClaim, four
/// stores, Commit; a waiting Poll (20 ms slices, as the harness) whose handler checks in place; the echo copies into a
/// claim inside its handler.</item>
/// <item><see cref="EchoApi.Harness"/>: the main job's poll-claim echo as it runs, through the harness's own code, linked
/// from perf/IIC.Perf: <c>IicEndpoint</c> (its zero-copy link, <c>SendInPlace</c> and <c>Poll</c>), <c>MessageStamp</c>
/// and <c>PayloadChecksum</c>; the loops are <c>PingPongClient.ClaimTrip</c>'s and <c>EchoServer.ClaimEcho</c>'s
/// (private there, copied here line for line).</item>
/// <item><see cref="EchoApi.HarnessVerifyFirst"/>: the same with main's echo order (verify the request, then claim the
/// reply), beside it in the same process pair.</item>
/// </list>
/// </summary>
internal sealed class EchoRungStep(string name, string description, EchoApi api, bool writerCleans = false) : Step(name, description)
{
    private const int Size = 32;
    private const long P1 = 0x0123456789abcdef;
    private const long P2 = 0x1111222233334444;
    private const long P3 = 0x5555666677778888;
    private static readonly TimeSpan s_slice = TimeSpan.FromMilliseconds(20);
    /// <summary>The channel variants, one channel (and window) each: 0 the default; 1 writers that clean ahead, readers that make no clears (DescriptorRing.WriterCleansEnabled, IIC_WRITER_CLEANS=1).</summary>
    public const int Variants = 2;

    private static readonly PropertyInfo? s_writerCleans = typeof(DescriptorRing).GetProperty("WriterCleansEnabled", BindingFlags.NonPublic | BindingFlags.Static);

    private static readonly IicChannel?[] s_channels = new IicChannel?[Variants];
    private static readonly IicEndpoint?[] s_endpoints = new IicEndpoint?[Variants];

    /// <summary>The windows the two processes share for the channels, one per variant (made by the parent, opened by the child).</summary>
    public static SharedWindow[] Windows { get; set; } = [];

    /// <summary>This process's side of this step's channel (0 in the measuring parent, 1 in the child), opened on first use.</summary>
    private (IicChannel Channel, IicEndpoint Endpoint) Open(int side)
    {
        var k = writerCleans ? 1 : 0;
        if (s_channels[k] is null)
        {
            var open = typeof(IicChannel).GetMethod("Open", BindingFlags.NonPublic | BindingFlags.Static, [typeof(SharedWindow), typeof(int), typeof(ChannelOptions)])
                ?? throw new MissingMethodException("IicChannel.Open(SharedWindow, int, ChannelOptions)");
            // The switch is read when the channel's writers are made.
            if (writerCleans)
            {
                (s_writerCleans ?? throw new MissingMemberException("DescriptorRing.WriterCleansEnabled")).SetValue(null, true);
            }
            var channel = (IicChannel)open.Invoke(null, [Windows[k], side, new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, Name = "linelab-x" }])!;
            s_writerCleans?.SetValue(null, false);
            s_channels[k] = channel;
            s_endpoints[k] = new IicEndpoint(channel, new RunGuard(TimeSpan.FromHours(1), CancellationToken.None), null);
        }
        return (s_channels[k]!, s_endpoints[k]!);
    }

    public override unsafe void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        var (channel, endpoint) = Open(0);
        if (api == EchoApi.Channel)
        {
            ChannelClient(channel, trips, samples);
        }
        else
        {
            HarnessClient(endpoint, trips, samples);
        }
    }

    public override unsafe void Server(byte* ringIn, byte* ringOut, int trips)
    {
        var (channel, endpoint) = Open(1);
        if (api == EchoApi.Channel)
        {
            ChannelServer(channel, trips);
        }
        else if (api == EchoApi.HarnessVerifyFirst)
        {
            HarnessServer(endpoint, trips);
        }
        else
        {
            _ = endpoint.Run(new ServerFirstVisitor(trips));
        }
    }

    // ---- the public API, the lab's check ----

    private static void ChannelClient(IicChannel client, int trips, long[] samples)
    {
        var check = new Check();
        for (var i = 0; i < trips; i++)
        {
            var before = Stopwatch.GetTimestamp();
            ChannelClaim claim;
            while (!client.TryClaim(Size, out claim))
            {
            }
            var words = MemoryMarshal.Cast<byte, long>(claim.Span);
            words[0] = i;
            words[1] = P1;
            words[2] = P2;
            words[3] = P3;
            claim.Commit();
            check.Expected = i;
            while (client.Poll(ref check, 1, s_slice) == 0)
            {
            }
            samples[i] = Stopwatch.GetTimestamp() - before;
        }
    }

    private static void ChannelServer(IicChannel server, int trips)
    {
        var handler = new EchoHandler { Channel = server };
        for (var i = 0; i < trips; i++)
        {
            handler.Expected = i;
            while (server.Poll(ref handler, 1, s_slice) == 0)
            {
            }
        }
    }

    private static void Verify(ReadOnlySpan<byte> message, long sequence)
    {
        var words = MemoryMarshal.Cast<byte, long>(message);
        if (words.Length != 4 || words[0] != sequence || words[0] + words[1] + words[2] + words[3] != sequence + P1 + P2 + P3)
        {
            throw new InvalidDataException($"message {sequence} is torn, out of order or the wrong size ({message.Length} B)");
        }
    }

    private struct Check : IMessageHandler
    {
        public long Expected;

        public readonly void OnMessage(ReadOnlySpan<byte> message) => Verify(message, Expected);
    }

    private struct EchoHandler : IMessageHandler
    {
        public IicChannel Channel;
        public long Expected;

        public readonly void OnMessage(ReadOnlySpan<byte> message)
        {
            Verify(message, Expected);
            ChannelClaim claim;
            while (!Channel.TryClaim(message.Length, out claim))
            {
            }
            message.CopyTo(claim.Span);
            claim.Commit();
        }
    }

    // ---- the main job's harness (PingPongClient.ClaimTrip, EchoServer.ClaimEcho) over the real IicEndpoint ----

    private static void HarnessClient(IicEndpoint endpoint, int trips, long[] samples)
        => _ = endpoint.Run(new ClientVisitor(trips, samples));

    private static void HarnessServer(IicEndpoint endpoint, int trips)
        => endpoint.Run(new ServerVisitor(trips));

    private sealed class ClientVisitor(int trips, long[] samples) : IZeroCopyVisitor<long>
    {
        public long Visit<TLink>(TLink link)
            where TLink : struct, IZeroCopyLink
        {
            var template = new byte[Size];
            MessageStamp.Fill(template);
            var trip = new ClaimTrip<TLink>(link);
            Loop(ref trip, template, trips, samples);
            return trips;
        }

        /// <summary>PingPongClient.RoundTrips' timed part: one GetTimestamp pair around each trip.Run.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static void Loop<TLink>(ref ClaimTrip<TLink> trip, byte[] template, int trips, long[] samples)
            where TLink : struct, IZeroCopyLink
        {
            for (var i = 0; i < trips; i++)
            {
                var before = Stopwatch.GetTimestamp();
                trip.Run(template, i);
                samples[i] = Stopwatch.GetTimestamp() - before;
            }
        }
    }

    private sealed class ServerVisitor(int trips) : IZeroCopyVisitor<long>
    {
        public long Visit<TLink>(TLink link)
            where TLink : struct, IZeroCopyLink
        {
            var echo = new ClaimEcho<TLink>(link);
            for (var i = 0; i < trips; i++)
            {
                if (echo.EchoOne() != i)
                {
                    throw new InvalidDataException($"echo {i} out of order");
                }
            }
            return trips;
        }
    }

    /// <summary>PingPongClient.ClaimTrip, line for line.</summary>
    private struct ClaimTrip<TLink>(TLink link)
        where TLink : struct, IZeroCopyLink
    {
        private readonly TLink _link = link;
        private EchoCheck _check;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(byte[] template, long sequence)
        {
            var writer = new StampWriter(template, sequence);
            _link.SendInPlace(template.Length, ref writer);
            _check.Expected = sequence;
            _check.Size = template.Length;
            while (_link.Poll(ref _check, 1) == 0)
            {
            }
        }
    }

    /// <summary>PingPongClient.StampWriter.</summary>
    private readonly ref struct StampWriter(byte[] template, long sequence) : IMessageWriter
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(Span<byte> destination)
        {
            template.CopyTo(destination);
            MessageStamp.Write(destination, sequence);
        }
    }

    /// <summary>PingPongClient.EchoCheck.</summary>
    private struct EchoCheck : IMessageConsumer
    {
        public long Expected;
        public int Size;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void OnMessage(ReadOnlySpan<byte> message) => MessageStamp.Verify(message, Size, Expected);
    }

    /// <summary>EchoServer.ClaimEcho as main has it (before round 14): the request verified, then the reply claimed.</summary>
    private struct ClaimEcho<TLink>(TLink link) : IMessageConsumer
        where TLink : struct, IZeroCopyLink
    {
        private TLink _link = link;
        private long _sequence;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long EchoOne()
        {
            while (_link.Poll(ref this, 1) == 0)
            {
            }
            return _sequence;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var sequence = MessageStamp.Read(message);
            MessageStamp.Verify(message, message.Length, sequence);
            var writer = new CopyWriter(message);
            _link.SendInPlace(message.Length, ref writer);
            _sequence = sequence;
        }
    }

    private sealed class ServerFirstVisitor(int trips) : IZeroCopyVisitor<long>
    {
        public long Visit<TLink>(TLink link)
            where TLink : struct, IZeroCopyLink
        {
            var echo = new ClaimFirstEcho<TLink>(link);
            for (var i = 0; i < trips; i++)
            {
                if (echo.EchoOne() != i)
                {
                    throw new InvalidDataException($"echo {i} out of order");
                }
            }
            return trips;
        }
    }

    /// <summary>EchoServer.ClaimEcho, line for line (round 14): the reply claimed first, the request verified inside the claim's writer, then copied.</summary>
    private struct ClaimFirstEcho<TLink>(TLink link) : IMessageConsumer
        where TLink : struct, IZeroCopyLink
    {
        private TLink _link = link;
        private long _sequence;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long EchoOne()
        {
            while (_link.Poll(ref this, 1) == 0)
            {
            }
            return _sequence;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var sequence = MessageStamp.Read(message);
            var writer = new VerifyingCopyWriter(message, sequence);
            _link.SendInPlace(message.Length, ref writer);
            _sequence = sequence;
        }
    }

    /// <summary>EchoServer.VerifyingCopyWriter: verifies the request (every byte), then copies it into the claimed reply.</summary>
    private readonly ref struct VerifyingCopyWriter(ReadOnlySpan<byte> source, long sequence) : IMessageWriter
    {
        private readonly ReadOnlySpan<byte> _source = source;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(Span<byte> destination)
        {
            MessageStamp.Verify(_source, _source.Length, sequence);
            _source.CopyTo(destination);
        }
    }

    /// <summary>EchoServer.CopyWriter (main).</summary>
    private readonly ref struct CopyWriter(ReadOnlySpan<byte> source) : IMessageWriter
    {
        private readonly ReadOnlySpan<byte> _source = source;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Write(Span<byte> destination) => _source.CopyTo(destination);
    }
}

/// <summary>Which upper rung <see cref="EchoRungStep"/> runs.</summary>
internal enum EchoApi
{
    Channel,
    Harness,
    HarnessVerifyFirst,
}
