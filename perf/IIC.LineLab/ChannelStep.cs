using System.Diagnostics;
using System.Reflection;
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
/// </summary>
internal sealed class ChannelStep(string name, string description, bool ownNextLine) : Step(name, description)
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
            var echo = new Thread(() => Echo(server, trips)) { IsBackground = true, Name = "linelab echo" };
            echo.Start();
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
            echo.Join();
        }
    }

    public override unsafe void Server(byte* ringIn, byte* ringOut, int trips)
    {
        // The echo runs on a thread of the measuring process.
    }

    private static void Echo(IicChannel server, int trips)
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
}
