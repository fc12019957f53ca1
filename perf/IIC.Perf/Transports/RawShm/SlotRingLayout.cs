using IIC.Perf.Core;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// Where things are in the raw-shm memfd: two rings of fixed-stride slots, client-to-server then server-to-client.
/// Every message of a run has the same size, so a slot's header is always at the same place, lap after lap: the
/// reader can spin on the header of the next slot without ever mistaking stale payload bytes for a header, and
/// nothing has to be zeroed after reading.
/// </summary>
/// <param name="Stride">Bytes from one slot to the next (header + payload, aligned).</param>
/// <param name="SlotCount">Slots per ring, a power of two.</param>
/// <param name="RingBytes">Bytes per ring, page aligned (control lines + slots).</param>
internal readonly record struct SlotRingLayout(int Stride, int SlotCount, long RingBytes)
{
    /// <summary>The slot header: one 64-bit word, [payload length:int32][sequence tag:int32], written last.</summary>
    public const int HeaderSize = 8;

    /// <summary>
    /// The ring's control area: the reader's published head on a 128-byte line of its own (adjacent-line prefetch
    /// pairs 64-byte lines), and an empty line before the slots so the head never shares a pair with a slot.
    /// </summary>
    public const int ControlSize = 256;

    private const int CacheLine = 64;
    private const int PageSize = 4096;

    // About 1 MiB per ring: deep enough that the writer rarely waits for the reader, small enough to stay in L2.
    private const int TargetRingBytes = 1 << 20;

    /// <summary>
    /// <c>IIC_PERF_RAW_LINE_RECORDS=1</c>: one-way slots aligned to a 64-byte line too (equal-density A/B against iic; the
    /// child inherits the variable, and checks the memfd's size against the layout it computes).
    /// </summary>
    public static bool LineRecords { get; } = Environment.GetEnvironmentVariable("IIC_PERF_RAW_LINE_RECORDS") == "1";

    /// <summary>The whole memfd: two rings.</summary>
    public long MappingLength => 2 * RingBytes;

    /// <summary>The largest payload a slot holds.</summary>
    public int MaxPayload => Stride - HeaderSize;

    /// <summary>
    /// Round trips get one cache line per small message (header and a 32-byte payload in one 64-byte line, aligned),
    /// which is what a latency-minded design does. One-way throughput packs records on 8 bytes, so 32-byte messages
    /// cost 40 bytes of bandwidth rather than 64; with <see cref="LineRecords"/> they take a line each, as iic's records
    /// (and Aeron's 32 B frames with their 32 B header) do, so a one-way row compares the protocols at equal density.
    /// </summary>
    public static SlotRingLayout For(LinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var alignment = options.Test.IsOneWay() && !LineRecords ? sizeof(long) : CacheLine;
        var stride = AlignUp(HeaderSize + options.MessageSize, alignment);
        var slots = (int)Math.Clamp(1L << (63 - (int)long.LeadingZeroCount(Math.Max(1, TargetRingBytes / stride))), 4, 1 << 16);
        var ringBytes = AlignUp(ControlSize + ((long)slots * stride), PageSize);
        return new SlotRingLayout(stride, slots, ringBytes);
    }

    private static int AlignUp(int value, int alignment) => (value + alignment - 1) & ~(alignment - 1);

    private static long AlignUp(long value, long alignment) => (value + alignment - 1) & ~(alignment - 1);
}
