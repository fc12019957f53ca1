using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using IIC.Hardware;

namespace IIC.LineLab;

/// <summary>
/// One-way 32 B throughput through iic's own ring ends (ring 0, 1 MiB), with the writer's pre-own store on or off: the
/// client writes as fast as the ring takes (retrying when full), the child reads every message in place, checks it and
/// consumes it lazily, returning the head whenever it finds the ring empty. A "sample" here is the writer's time per
/// message over a batch of <see cref="Batch"/> messages, so the step's p50 is ns per message (not a round trip).
/// </summary>
internal sealed class IicOneWayStep(string name, string description, bool ownNextLine) : Step(name, description)
{
    private const int Batch = 1024;
    private const int Size = 32;
    private static readonly int s_type = (int)RecordFraming.Unfragmented;
    private static readonly PropertyInfo s_switch = typeof(DescriptorRing).GetProperty("OwnNextLineEnabled", BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new MissingMemberException("DescriptorRing.OwnNextLineEnabled");

    public override unsafe void Client(byte* ringOut, byte* ringIn, int trips, long[] samples)
    {
        var window = IicRingStep.Window ?? throw new InvalidOperationException("no window");
        s_switch.SetValue(null, ownNextLine);
        var writer = window.GetRing(0).CreateWriter();
        var message = new long[Size / sizeof(long)];
        var bytes = MemoryMarshal.AsBytes(message.AsSpan());
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < trips; i++)
        {
            message[0] = i;
            message[1] = ~i;
            while (!writer.TryWrite(bytes, s_type))
            {
            }
            if ((i + 1) % Batch == 0)
            {
                var now = Stopwatch.GetTimestamp();
                var perMessage = (now - start) / Batch;
                for (var j = i + 1 - Batch; j <= i; j++)
                {
                    samples[j] = perMessage;
                }
                start = now;
            }
        }
        for (var j = trips - (trips % Batch); j < trips; j++)
        {
            samples[j] = samples[Math.Max(0, trips - (trips % Batch) - 1)];
        }
    }

    public override unsafe void Server(byte* ringIn, byte* ringOut, int trips)
    {
        var window = IicRingStep.Window ?? throw new InvalidOperationException("no window");
        s_switch.SetValue(null, ownNextLine);
        var reader = window.GetRing(0).CreateReader();
        for (var i = 0; i < trips; i++)
        {
            ReadOnlySpan<byte> payload;
            while (!reader.TryPeek(out _, out payload))
            {
                reader.PublishHeadIfStale();
            }
            var words = MemoryMarshal.Cast<byte, long>(payload);
            if (words.Length != 4 || words[0] != i || words[1] != ~i)
            {
                throw new InvalidDataException($"one-way message {i} is wrong");
            }
            reader.ConsumeLazily();
        }
        reader.PublishHeadIfStale();
    }
}
