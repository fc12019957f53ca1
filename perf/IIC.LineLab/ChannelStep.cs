using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.LineLab;

/// <summary>
/// The public API's poll-claim echo over an <see cref="IicChannel.CreatePair"/> pair (BusySpin, 1 MiB rings), the
/// echo on a thread of this process rather than in the child (same cache-line traffic, one address space): TryClaim,
/// write, Commit; a waiting Poll that checks the message in place. Beside iic-ring-own/off it shows what the channel's
/// API adds to the ring's work (gates, roles, doorbell, counters, the handler adapter). The pre-own switch is set by
/// reflection before the pair is made (its writers read it then).
/// <para>With <c>viaSender</c> both sides send through a non-inlined claim-write-commit method, as the main job's
/// IicEndpoint.SendInPlace does: <see cref="SendFramed"/> holds an inlined P/Invoke (a rarely taken Thread.Yield, as
/// SendInPlace's guard check), so the JIT sets up a P/Invoke frame (CORINFO_HELP_INIT_PINVOKE_FRAME) in its prolog on
/// every call; <see cref="SendPlain"/> is the same with the yield out of line. The pair isolates that frame's cost on
/// an echo's critical path (issue 17 round 11b, branch claim).</para>
/// </summary>
internal sealed class ChannelStep(string name, string description, bool ownNextLine, SendPath viaSender = SendPath.Direct) : Step(name, description)
{
    private const int Size = 32;
    private const long P1 = 0x0123456789abcdef;
    private const long P2 = 0x1111222233334444;
    private const long P3 = 0x5555666677778888;
    private static readonly TimeSpan s_slice = TimeSpan.FromMilliseconds(20);
    private static readonly PropertyInfo s_switch = typeof(DescriptorRing).GetProperty("OwnNextLineEnabled", BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new MissingMemberException("DescriptorRing.OwnNextLineEnabled");

    public override unsafe void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        s_switch.SetValue(null, ownNextLine);
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, Name = "linelab" });
        using (client)
        using (server)
        {
            var echo = new Thread(() => Echo(server, trips, viaSender)) { IsBackground = true, Name = "linelab echo" };
            echo.Start();
            var check = new Check();
            for (var i = 0; i < trips; i++)
            {
                var before = Stopwatch.GetTimestamp();
                if (viaSender == SendPath.Direct)
                {
                    ChannelClaim claim;
                    while (!client.TryClaim(Size, out claim))
                    {
                    }
                    Stamp(claim.Span, i);
                    claim.Commit();
                }
                else
                {
                    var stamp = new StampWriter(i);
                    Send(client, viaSender, ref stamp);
                }
                check.Expected = i;
                while (client.Poll(ref check, 1, s_slice) == 0)
                {
                }
                samples[i] = Stopwatch.GetTimestamp() - before;
            }
            echo.Join();
        }
    }

    public override unsafe void Server(byte* ringIn, byte* ringOut, int trips)
    {
        // The echo runs on a thread of the measuring process.
    }

    private static void Stamp(Span<byte> destination, long sequence)
    {
        var words = MemoryMarshal.Cast<byte, long>(destination);
        words[0] = sequence;
        words[1] = P1;
        words[2] = P2;
        words[3] = P3;
    }

    private static void Send<TWriter>(IicChannel channel, SendPath path, ref TWriter writer)
        where TWriter : struct, IWriter, allows ref struct
    {
        if (path == SendPath.Framed)
        {
            SendFramed(channel, ref writer);
        }
        else
        {
            SendPlain(channel, ref writer);
        }
    }

    /// <summary>Claim, write, commit, with a rare inlined Thread.Yield (a P/Invoke): the JIT sets up its frame in the prolog, on every call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SendFramed<TWriter>(IicChannel channel, ref TWriter writer)
        where TWriter : struct, IWriter, allows ref struct
    {
        var spins = 0;
        ChannelClaim claim;
        while (!channel.TryClaim(Size, out claim))
        {
            if ((++spins & YieldInterval) == 0)
            {
                Thread.Yield();
            }
        }
        writer.Write(claim.Span);
        claim.Commit();
    }

    /// <summary><see cref="SendFramed"/> with the yield out of line: no P/Invoke frame in this method.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SendPlain<TWriter>(IicChannel channel, ref TWriter writer)
        where TWriter : struct, IWriter, allows ref struct
    {
        var spins = 0;
        ChannelClaim claim;
        while (!channel.TryClaim(Size, out claim))
        {
            if ((++spins & YieldInterval) == 0)
            {
                YieldOutOfLine();
            }
        }
        writer.Write(claim.Span);
        claim.Commit();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void YieldOutOfLine() => Thread.Yield();

    private const int YieldInterval = (1 << 14) - 1;

    private static void Echo(IicChannel server, int trips, SendPath path)
    {
        var handler = new EchoHandler { Channel = server, Path = path };
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
        public SendPath Path;

        public readonly void OnMessage(ReadOnlySpan<byte> message)
        {
            Verify(message, Expected);
            if (Path != SendPath.Direct)
            {
                var copy = new CopyWriter(message);
                Send(Channel, Path, ref copy);
                return;
            }
            ChannelClaim claim;
            while (!Channel.TryClaim(message.Length, out claim))
            {
            }
            message.CopyTo(claim.Span);
            claim.Commit();
        }
    }

    private interface IWriter
    {
        void Write(Span<byte> destination);
    }

    private readonly struct StampWriter(long sequence) : IWriter
    {
        public void Write(Span<byte> destination) => Stamp(destination, sequence);
    }

    private readonly ref struct CopyWriter(ReadOnlySpan<byte> source) : IWriter
    {
        private readonly ReadOnlySpan<byte> _source = source;

        public void Write(Span<byte> destination) => _source.CopyTo(destination);
    }
}

/// <summary>How <see cref="ChannelStep"/> sends: inline in the loop, or through a non-inlined method with or without a P/Invoke frame.</summary>
internal enum SendPath
{
    Direct,
    Framed,
    Plain,
}
