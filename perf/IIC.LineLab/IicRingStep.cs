using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.LineLab;

/// <summary>
/// The real thing beside the lab's shapes: iic's own <see cref="RingWriter"/> and <see cref="RingReader"/> on a
/// <see cref="SharedWindow"/> the two processes share (1 MiB rings), doing the poll-claim echo's ring work (claim, write,
/// commit; peek, check, consume lazily, publish the head when empty), with the writer's pre-own store on or off. The
/// switch (<c>DescriptorRing.OwnNextLineEnabled</c>, internal: set here by reflection, in both processes, before each
/// step makes its ring ends) is read when a writer is made, so the two steps run interleaved in one process pair.
/// No endpoint, doorbell, role gate or counters: the steps isolate the ring.
/// </summary>
internal sealed class IicRingStep(string name, string description, bool ownNextLine) : Step(name, description)
{
    private const int Size = 32;
    private const long P1 = 0x0123456789abcdef;
    private const long P2 = 0x1111222233334444;
    private const long P3 = 0x5555666677778888;
    private static readonly int s_type = (int)RecordFraming.Unfragmented;
    private static readonly PropertyInfo s_switch = typeof(DescriptorRing).GetProperty("OwnNextLineEnabled", BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new MissingMemberException("DescriptorRing.OwnNextLineEnabled");

    /// <summary>The shared window (ring 0 carries client to server, ring 1 the echo); set in both processes at start.</summary>
    public static SharedWindow? Window { get; set; }

    private (RingWriter Writer, RingReader Reader) Ends(int writeRing, int readRing)
    {
        var window = Window ?? throw new InvalidOperationException("no window");
        s_switch.SetValue(null, ownNextLine);
        // A new writer and reader resume from the shared tail and head the previous step left (all consumed, returned).
        return (window.GetRing(writeRing).CreateWriter(), window.GetRing(readRing).CreateReader());
    }

    public override unsafe void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        var (writer, reader) = Ends(0, 1);
        for (var i = 0; i < trips; i++)
        {
            var before = Stopwatch.GetTimestamp();
            if (!writer.TryClaim(Size, s_type, out var claim))
            {
                throw new InvalidOperationException("ring full in a ping-pong");
            }
            var words = MemoryMarshal.Cast<byte, long>(claim);
            words[0] = i;
            words[1] = P1;
            words[2] = P2;
            words[3] = P3;
            writer.Commit(s_type);
            ReadOnlySpan<byte> payload;
            while (!reader.TryPeek(out _, out payload))
            {
                reader.PublishHeadIfStale();
            }
            var echo = Check(payload, i);
            reader.ConsumeLazily();
            var after = Stopwatch.GetTimestamp();
            if (echo != i)
            {
                throw new InvalidDataException($"expected {i}, got {echo}");
            }
            samples[i] = after - before;
        }
        reader.PublishHeadIfStale();
    }

    public override unsafe void Server(byte* ringIn, byte* ringOut, int trips)
    {
        var (writer, reader) = Ends(1, 0);
        for (var i = 0; i < trips; i++)
        {
            ReadOnlySpan<byte> payload;
            while (!reader.TryPeek(out _, out payload))
            {
                reader.PublishHeadIfStale();
            }
            if (Check(payload, i) != i || !writer.TryClaim(Size, s_type, out var claim))
            {
                throw new InvalidDataException($"message {i} is not the one expected, or the ring is full");
            }
            payload.CopyTo(claim);
            writer.Commit(s_type);
            reader.ConsumeLazily();
        }
        reader.PublishHeadIfStale();
    }

    private static long Check(ReadOnlySpan<byte> payload, long sequence)
    {
        var words = MemoryMarshal.Cast<byte, long>(payload);
        if (words.Length != 4 || words[0] + words[1] + words[2] + words[3] != sequence + P1 + P2 + P3)
        {
            throw new InvalidDataException($"message {sequence} is torn or the wrong size ({payload.Length} B)");
        }
        return words[0];
    }
}
