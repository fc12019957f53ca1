using IIC.Hardware;

namespace IIC.Transport;

/// <summary>How a channel is shaped and how its receiver waits.</summary>
public sealed record ChannelOptions
{
    /// <summary>The defaults: 1 MiB per direction, adaptive waiting.</summary>
    public static ChannelOptions Default { get; } = new();

    /// <summary>How the receiver waits for messages (default <see cref="WaitStrategy.Adaptive"/>).</summary>
    public WaitStrategy WaitStrategy { get; init; } = WaitStrategy.Adaptive;

    /// <summary>Bytes of each direction's ring (a power of two, 1 KiB to 1 GiB; default 1 MiB). A quarter of it is the largest unfragmented message.</summary>
    public int RingCapacity { get; init; } = WindowOptions.DefaultRingCapacity;

    /// <summary>
    /// Receive through the partition's interrupt group, so one thread waits on many channels with an
    /// <see cref="IicChannelGroup"/> (fan-in). While it is in a group it is received only after the group reported it
    /// ready (non-waiting TryReceive or Poll); its blocking, timed and async receives throw
    /// <see cref="InvalidOperationException"/>. Out of any group (before it is added, or after
    /// <see cref="IicChannelGroup.Remove"/>) it waits alone like any channel: its peer then raises its own block.
    /// </summary>
    public bool Grouped { get; init; }

    /// <summary>
    /// Promise that at most one thread sends (or claims) at a time, as in System.Threading.Channels. False (the
    /// default): any number of threads may send at once and take turns. True: the single-producer path; a second
    /// thread that sends while one is sending gets an <see cref="InvalidOperationException"/> (nothing is corrupted).
    /// </summary>
    public bool SingleWriter { get; init; }

    /// <summary>
    /// Promise that at most one thread receives (or polls) at a time, as in System.Threading.Channels. False (the
    /// default): any number of threads may receive at once and take turns; each message goes to one of them.
    /// True: the single-consumer path; a second concurrent receiver gets an <see cref="InvalidOperationException"/>.
    /// </summary>
    public bool SingleReader { get; init; }

    /// <summary>
    /// Run the continuation of an awaited <see cref="IicChannel.ReceiveAsync"/> / <see cref="IicChannel.WaitToReceiveAsync"/>
    /// on the interrupt dispatcher thread that saw the message, instead of queueing it to the thread pool (as Kestrel's
    /// <c>UnsafePreferInlineScheduling</c>). Saves a pool hop (several µs, more on a busy pool) per message that was
    /// awaited. Unsafe because that thread serves up to 127 async receivers: code after the await runs there until it
    /// awaits something incomplete, so it must be short or hand off itself (queue to a channel or the pool), and it must
    /// never block. A captured SynchronizationContext or TaskScheduler is still honoured. Default false.
    /// </summary>
    public bool UnsafePreferInlineCompletions { get; init; }

    /// <summary>
    /// For <see cref="IicListener.Listen"/>: how many connections the hypervisor grants to the listener beyond those
    /// its application has accepted (its listen backlog, 1 to 65536; default <see cref="ServiceListener.DefaultBacklog"/>).
    /// Further connectors wait within their own timeouts; a connect without a timeout is refused with
    /// <see cref="ControlError.NotAccepting"/>. Ignored when connecting.
    /// </summary>
    public int ListenBacklog { get; init; } = ServiceListener.DefaultBacklog;

    /// <summary>
    /// Commit and map every page of the channel's window when the channel opens (MADV_POPULATE_WRITE), as Aeron's
    /// pre-touch option does, instead of page by page as the rings first use them: without it the first lap of each
    /// ring takes a page fault every 4 KiB on both sides (one every 64 small messages, 1-5 µs each), and a memory
    /// shortage surfaces as an exception at open rather than as a fault later. It commits the whole window at once
    /// (about 2 x <see cref="RingCapacity"/>) and adds that work to the open. Default false.
    /// </summary>
    public bool PreTouch { get; init; }

    /// <summary>
    /// The largest message this side reassembles from fragments, in bytes (0 to <see cref="IicChannel.MaxMessageLength"/>;
    /// default <see cref="IicChannel.MaxMessageLength"/>, 1 GiB, the behaviour before this option), as ZeroMQ's
    /// ZMQ_MAXMSGSIZE or grpc's max receive message size. A peer announces a fragmented message's length in its first
    /// fragment: one over this limit is refused before anything is allocated for it, its fragments are consumed and
    /// dropped as they arrive (no copy; the sender is not held up and later messages arrive as usual), it is counted in
    /// <see cref="ChannelStatistics.MessagesRefused"/>, and the receive that met it throws
    /// <see cref="ReceiveLimitExceededException"/> (every receive API: Receive, TryReceive, ReceiveAsync, Poll, and the
    /// Stream and duplex pipe, whose reads fail with it from then on, after every byte before it: the bytes after the gap
    /// would be misframed, so they also close the channel then and the peer's sends end with
    /// <see cref="IicChannelClosedException"/>). A message of one record (up to <see cref="IicChannel.MaxClaimLength"/>)
    /// is always delivered: it is read in place from the ring, so it costs the receiver no memory whatever its length.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 0 or above <see cref="IicChannel.MaxMessageLength"/>.</exception>
    public long MaxReceiveMessageLength
    {
        get => _maxReceiveMessageLength;
        init => _maxReceiveMessageLength = value is >= 0 and <= WindowEndpoint.MaxMessageLength
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"ChannelOptions.MaxReceiveMessageLength must be from 0 to {WindowEndpoint.MaxMessageLength} bytes (IicChannel.MaxMessageLength): the largest fragmented message this side accepts.");
    }

    private readonly long _maxReceiveMessageLength = WindowEndpoint.MaxMessageLength;

    /// <summary>A name for metrics and events (the service name when connected through a partition).</summary>
    public string Name { get; init; } = "channel";
}
