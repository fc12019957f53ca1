namespace IIC.LineLab;

/// <summary>The steps, in the order each round runs them (generated from one table: see each step's description).</summary>
internal static class Steps
{
    /// <summary>Every step; the first is the probe, the ratios' denominator.</summary>
    public static readonly Step[] All =
    [
        new HopStep<ProbeShape>("probe", "the placement probe: an 8-byte counter in one flag line each way"),
        new HopStep<PayloadShape>("payload", "a 32 B payload in the flag's line (reader reads the stamp word)"),
        new HopStep<ChecksumShape>("checksum", "the reader reads all 32 B and checks their sum"),
        new HopStep<RingTag1M>("ring-tag-1M", "a new line per message, 1 MiB ring, sequence tags (raw-shm)"),
        new HopStep<Clear1M>("clear-1M", "iic's length word; the consumer clears lines at empty"),
        new HopStep<Head1M>("head-1M", "+ head store and room-armed load at every empty (iic's reader)"),
        new HopStep<Armed1M>("armed-1M", "+ the writer loads the armed word after each publish"),
        new HopStep<Tail1M>("tail-1M", "+ the writer stores its informational tail"),
        new HopStep<Counters1M>("counters-1M", "+ per-message counters (iic's shared-memory work, plain publish)"),
        new HopStep<Xchg1M>("xchg-1M", "+ the publish as an exchange (the no-membarrier fallback)"),
        new HopStep<RingTag64K>("ring-tag-64K", "ring-tag-1M with a 64 KiB ring"),
        new HopStep<Clear64K>("clear-64K", "clear-1M with a 64 KiB ring"),
        new HopStep<Counters64K>("counters-64K", "counters-1M with a 64 KiB ring"),
        new HopStep<RingTag4K>("ring-tag-4K", "ring-tag-1M with a 4 KiB ring"),
        new HopStep<Counters4K>("counters-4K", "counters-1M with a 4 KiB ring"),
        new HopStep<PfWriter1M>("pf-writer-1M", "counters-1M + the writer prefetches its next line after each publish"),
        new HopStep<PfReader1M>("pf-reader-1M", "counters-1M + the reader prefetches the line after its next"),
        new HopStep<OwnNext1M>("own-next-1M", "counters-1M + the writer takes its next line exclusive (lock or 0)"),
        new HopStep<StoreNext1M>("store-next-1M", "counters-1M + the writer stores 0 into its next line's last word"),
        new HopStep<StoreNext1MStride128>("store-next-1M-s128", "store-next-1M, one message every 128 B (the line after each unused)"),
        new HopStep<StoreNext1MStride256>("store-next-1M-s256", "store-next-1M, one message every 256 B"),
        new HopStep<RingTag1MStride128>("ring-tag-1M-s128", "ring-tag-1M, one message every 128 B"),
        new HopStep<StoreNextDetect1M>("detect-next-1M", "store-next-1M + on seeing a message, a store into the line written next"),
        new HopStep<CountersDetect1M>("detect-1M", "counters-1M + on seeing a message, a store into the line written next (no pre-own after publish)"),
        new HopStep<RingTagDetect1M>("ring-tag-detect-1M", "ring-tag-1M + on seeing a message, a store into the line written next"),
        new HopStep<StoreNext1MSkew>("store-next-1M-skew", "store-next-1M, the replies' ring 2 KiB further into its pages"),
        new HopStep<RingTag1MSkew>("ring-tag-1M-skew", "ring-tag-1M, the replies' ring 2 KiB further into its pages"),
        new HopStep<StoreNext64K>("store-next-64K", "store-next-1M with a 64 KiB ring"),
        new HopStep<StoreNext4K>("store-next-4K", "store-next-1M with a 4 KiB ring"),
        new IicRingStep("iic-ring-own", "iic's RingWriter/RingReader, 1 MiB, with the pre-own store", ownNextLine: true),
        new IicRingStep("iic-ring-off", "iic's RingWriter/RingReader, 1 MiB, IIC_OWN_NEXT_LINE=0", ownNextLine: false),
        new IicOneWayStep("oneway-own", "one-way 32 B through iic's ring, pre-own on (ns per message)", ownNextLine: true),
        new IicOneWayStep("oneway-off", "one-way 32 B through iic's ring, IIC_OWN_NEXT_LINE=0 (ns per message)", ownNextLine: false),
        new RawOneWayStep("ow-raw", "one-way 32 B, raw-shm's slot ring (40 B slots, tags, head per 1/4 ring) (ns/msg)", lineStride: false),
        new RawOneWayStep("ow-raw-line", "ow-raw with a 64 B line per slot (IIC_PERF_RAW_LINE_RECORDS=1) (ns/msg)", lineStride: true),
        new ThreadPairStep("ow-raw-t", "ow-raw, the reader a thread of the measuring process (as the ow-chan rungs) (ns/msg)",
            new RawOneWayStep("ow-raw", "", lineStride: false)),
        new ThreadPairStep("ow-ring-t", "oneway-own (iic's RingWriter/RingReader), the reader a thread of this process (ns/msg)",
            new IicOneWayStep("oneway-own", "", ownNextLine: true)),
        new ChannelOneWayStep("ow-chan-poll", "one-way 32 B, IicChannel Send + waiting Poll via an adapter (ns/msg)", OneWayApi.SendPoll),
        new ChannelOneWayStep("ow-chan-claim", "one-way 32 B, IicChannel TryClaim/Commit + waiting Poll (ns/msg)", OneWayApi.ClaimPoll),
        new ChannelOneWayStep("ow-chan-recv", "one-way 32 B, IicChannel Send + TryReceive(timeout) (ns/msg)", OneWayApi.SendReceive),
        new EchoRungStep("xchan", "IicChannel poll-claim echo across the process pair (TryClaim/Commit + waiting Poll)", EchoApi.Channel),
        new EchoRungStep("xharness", "the main job's poll-claim echo (IicEndpoint, MessageStamp, PayloadChecksum; process pair)", EchoApi.Harness),
        new EchoRungStep("xharness-vf", "xharness with main's echo order: verify the request, then claim the reply", EchoApi.HarnessVerifyFirst),
        new EchoRungStep("xchan-wc", "xchan, the writers clean ahead and the readers make no clears (IIC_WRITER_CLEANS=1)", EchoApi.Channel, writerCleans: true),
        new EchoRungStep("xharness-wc", "xharness, the writers clean ahead (IIC_WRITER_CLEANS=1)", EchoApi.Harness, writerCleans: true),
        new ChannelStep("channel-own", "IicChannel poll-claim echo (threads, BusySpin), pre-own on", ownNextLine: true),
        new ChannelStep("channel-off", "IicChannel poll-claim echo (threads, BusySpin), IIC_OWN_NEXT_LINE=0", ownNextLine: false),
        new ChannelStep("send-framed", "channel-own, each send in a method with a P/Invoke frame (as IicEndpoint)", ownNextLine: true, SendPath.Framed),
        new ChannelStep("send-plain", "channel-own, each send in a method without one (yield out of line)", ownNextLine: true, SendPath.Plain),
    ];
}

/// <summary>Step probe: the placement probe: an 8-byte counter in one flag line each way.</summary>
internal readonly struct ProbeShape : IHopShape
{
}

/// <summary>Step payload: a 32 B payload in the flag's line (reader reads the stamp word).</summary>
internal readonly struct PayloadShape : IHopShape
{
    public static bool Payload => true;
}

/// <summary>Step checksum: the reader reads all 32 B and checks their sum.</summary>
internal readonly struct ChecksumShape : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;
}

/// <summary>Step ring-tag-1M: a new line per message, 1 MiB ring, sequence tags (raw-shm).</summary>
internal readonly struct RingTag1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;
}

/// <summary>Step clear-1M: iic's length word; the consumer clears lines at empty.</summary>
internal readonly struct Clear1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;
}

/// <summary>Step head-1M: + head store and room-armed load at every empty (iic's reader).</summary>
internal readonly struct Head1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;
}

/// <summary>Step armed-1M: + the writer loads the armed word after each publish.</summary>
internal readonly struct Armed1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;
}

/// <summary>Step tail-1M: + the writer stores its informational tail.</summary>
internal readonly struct Tail1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;
}

/// <summary>Step counters-1M: + per-message counters (iic's shared-memory work, plain publish).</summary>
internal readonly struct Counters1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;
}

/// <summary>Step xchg-1M: + the publish as an exchange (the no-membarrier fallback).</summary>
internal readonly struct Xchg1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Exchange => true;

    public static bool Tail => true;

    public static bool Counters => true;
}

/// <summary>Step ring-tag-64K: ring-tag-1M with a 64 KiB ring.</summary>
internal readonly struct RingTag64K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 65536;
}

/// <summary>Step clear-64K: clear-1M with a 64 KiB ring.</summary>
internal readonly struct Clear64K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 65536;

    public static bool Clear => true;
}

/// <summary>Step counters-64K: counters-1M with a 64 KiB ring.</summary>
internal readonly struct Counters64K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 65536;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;
}

/// <summary>Step ring-tag-4K: ring-tag-1M with a 4 KiB ring.</summary>
internal readonly struct RingTag4K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 4096;
}

/// <summary>Step counters-4K: counters-1M with a 4 KiB ring.</summary>
internal readonly struct Counters4K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 4096;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;
}

/// <summary>Step pf-writer-1M: counters-1M + the writer prefetches its next line after each publish.</summary>
internal readonly struct PfWriter1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool PrefetchWriter => true;
}

/// <summary>Step pf-reader-1M: counters-1M + the reader prefetches the line after its next.</summary>
internal readonly struct PfReader1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool PrefetchReader => true;
}

/// <summary>Step own-next-1M: counters-1M + the writer takes its next line exclusive (lock or 0).</summary>
internal readonly struct OwnNext1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool OwnNext => true;
}

/// <summary>Step store-next-1M: counters-1M + the writer stores 0 into its next line's last word.</summary>
internal readonly struct StoreNext1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;
}

/// <summary>Step store-next-64K: store-next-1M with a 64 KiB ring.</summary>
internal readonly struct StoreNext64K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 65536;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;
}

/// <summary>Step store-next-4K: store-next-1M with a 4 KiB ring.</summary>
internal readonly struct StoreNext4K : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 4096;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;
}

/// <summary>Step store-next-1M-s128: store-next-1M with one message every 128 B (round 15).</summary>
internal readonly struct StoreNext1MStride128 : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;

    public static int Stride => 128;
}

/// <summary>Step store-next-1M-s256: store-next-1M with one message every 256 B (round 15).</summary>
internal readonly struct StoreNext1MStride256 : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;

    public static int Stride => 256;
}

/// <summary>Step ring-tag-1M-s128: ring-tag-1M with one message every 128 B (round 15).</summary>
internal readonly struct RingTag1MStride128 : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static int Stride => 128;
}

/// <summary>Step store-next-1M-skew: store-next-1M with the replies' ring 2 KiB further into its pages (round 15).</summary>
internal readonly struct StoreNext1MSkew : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;

    public static int ReplySkew => 2048;
}

/// <summary>Step ring-tag-1M-skew: ring-tag-1M with the replies' ring 2 KiB further into its pages (round 15).</summary>
internal readonly struct RingTag1MSkew : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static int ReplySkew => 2048;
}

/// <summary>Step detect-next-1M: store-next-1M + on seeing a message, a store into the line written next (round 15).</summary>
internal readonly struct StoreNextDetect1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool StoreNext => true;

    public static bool OwnOnDetect => true;
}

/// <summary>Step detect-1M: counters-1M + on seeing a message, a store into the line written next (round 15).</summary>
internal readonly struct CountersDetect1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool Clear => true;

    public static bool HeadEach => true;

    public static bool Armed => true;

    public static bool Tail => true;

    public static bool Counters => true;

    public static bool OwnOnDetect => true;
}

/// <summary>Step ring-tag-detect-1M: ring-tag-1M + on seeing a message, a store into the line written next (round 15).</summary>
internal readonly struct RingTagDetect1M : IHopShape
{
    public static bool Payload => true;

    public static bool Checksum => true;

    public static bool Ring => true;

    public static int Capacity => 1048576;

    public static bool OwnOnDetect => true;
}
