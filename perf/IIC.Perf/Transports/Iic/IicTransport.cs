using System.Globalization;
using System.Numerics;
using IIC.Hardware;
using IIC.Native;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Transport;

namespace IIC.Perf.Transports.Iic;

/// <summary>
/// IICFast itself, the way an application uses it: this process starts an embedded hypervisor and attaches as a
/// partition that listens on a service; the child attaches as a second partition and connects; the hypervisor
/// grants them a sealed window. Every wait mode (spin, spinpark, park, adaptive) is the channel's wait strategy.
/// <para>"iic" uses the default channel (safe for concurrent senders and receivers: one interlocked turn per call);
/// "iic-single" promises one sender and one receiver (ChannelOptions.SingleWriter/SingleReader), so one run measures
/// what the safe default costs.</para>
/// </summary>
internal sealed class IicTransport(bool singleThreaded = false) : IBenchTransport
{
    private int _sessions;

    public string Name => singleThreaded ? "iic-single" : "iic";

    public string Description => singleThreaded
        ? "IICFast channels with SingleWriter/SingleReader (the single-thread path), otherwise as iic"
        : "IICFast channels through an embedded hypervisor (sealed memfd window, SPSC rings, futex doorbell)";

    public IReadOnlyList<string> Modes => WaitModes.Selectable;

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Poll, ReceiveApi.Receive, ReceiveApi.PollClaim, ReceiveApi.SendAndReceive];

    public string? Unavailable() => LinuxPlatform.IsSupported ? null : "needs Linux on x64 or arm64 (memfd, futex, pidfd)";

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        var partition = IicHost.Partition;
        var service = string.Create(CultureInfo.InvariantCulture, $"perf-{Interlocked.Increment(ref _sessions)}");
        var listener = IicListener.Listen(partition, service, ChannelOptionsFor(options, grouped: false));
        return new Session(listener, options, [IicHost.HypervisorName, IicHost.SocketDirectory, service]);
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(guard);
        var partition = Partition.Attach(arguments[0], "perf-" + role.ToString().ToLowerInvariant() + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), arguments[1]); // names are unique
        try
        {
            if (options.Test == BenchTest.Channels)
            {
                return JoinGroup(partition, options, arguments[2], guard);
            }
            var channel = IicChannel.Connect(partition, arguments[2], ChannelOptionsFor(options, grouped: false), guard.Remaining);
            return new IicEndpoint(channel, guard, partition);
        }
        catch
        {
            partition.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A ring that carries the run's messages unfragmented, whatever their size: the smallest power of two whose largest
    /// record (a quarter of the ring) holds the message, at least the default 1 MiB. That is 8 MiB for 1 MiB messages
    /// (room for 7; raw-shm's ring holds 4, SlotRingLayout), 128 and 512 MiB for 16 and 64 MiB. Until round 7 messages
    /// up to 1 MiB got room for 8: a 16 MiB ring for 1 MiB messages, whose writes and reads cost more than in the 8 MiB
    /// one (more pages and lines to cycle through: perf/RESULTS.md, branch bw). <c>IIC_PERF_RING_CAPACITY</c> (bytes, a
    /// power of two) overrides it for the one-way tests, e.g. 1048576 to measure the default ring, where messages above
    /// 256 KiB travel in fragments. The channels test's N idle channels get small rings (64 KiB): it measures waiting,
    /// not bandwidth.
    /// </summary>
    private ChannelOptions ChannelOptionsFor(LinkOptions options, bool grouped) => new()
    {
        SingleWriter = singleThreaded,
        SingleReader = singleThreaded,
        WaitStrategy = WaitStrategy.Parse(options.Mode),
        RingCapacity = options.Test == BenchTest.Channels
            ? ChannelsTestRingCapacity
            : RingCapacityOverride ?? (int)Math.Max(WindowOptions.DefaultRingCapacity, BitOperations.RoundUpToPowerOf2((uint)(DescriptorRing.MaxRecordFraction * (options.MessageSize + RecordHeader.Size)))),
        Grouped = grouped,
        PreTouch = PreTouches(options.Test),
        Name = "perf",
    };

    private const int ChannelsTestRingCapacity = 64 << 10;

    /// <summary>
    /// Round 15: the rows measured against raw-shm open their channels with <see cref="ChannelOptions.PreTouch"/>, as
    /// raw-shm maps its memfd with MAP_POPULATE (and as Aeron was measured, pre-touch on): neither side of either
    /// transport pays a first-touch page fault per 4 KiB inside a measured phase. Before, iic's first lap of a large ring
    /// faulted on both sides (one fault per page per process), and the 64 MiB row's full-size acknowledgements into the
    /// reverse ring took 16-32 K faults (perf/RESULTS.md, "Round 14 merged"). Not for the connect test (it measures the
    /// default open, PreTouch off), the channels test (idle channels: it measures waiting) or fan-in.
    /// <c>IIC_PERF_PRETOUCH=0</c> turns it off for A/B runs.
    /// </summary>
    private static bool PreTouches(BenchTest test)
        => s_preTouch && test is BenchTest.PingPong or BenchTest.IdleGap or BenchTest.Throughput or BenchTest.Sizes;

    private static readonly bool s_preTouch = Environment.GetEnvironmentVariable("IIC_PERF_PRETOUCH") != "0";

    // Parent and child read the same environment, so both ends ask for the same ring (read per connection, so a bad
    // value fails that row with this message rather than the type's initializer).
    private static int? RingCapacityOverride => Environment.GetEnvironmentVariable("IIC_PERF_RING_CAPACITY") is { Length: > 0 } text
        ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var capacity)
            ? capacity
            : throw new InvalidOperationException($"IIC_PERF_RING_CAPACITY is '{text}': give the ring's size in bytes, a power of two (e.g. 1048576), or unset it.")
        : null;

    /// <summary>The channels test's server: N grouped channels, one thread waiting on them all.</summary>
    private IicGroupEndpoint JoinGroup(Partition partition, LinkOptions options, string service, RunGuard guard)
    {
        var channels = new List<IicChannel>(options.Channels);
        try
        {
            var group = new IicChannelGroup(partition, WaitStrategy.Parse(options.Mode));
            for (var i = 0; i < options.Channels; i++)
            {
                var channel = IicChannel.Connect(partition, service, ChannelOptionsFor(options, grouped: true), guard.Remaining);
                channels.Add(channel);
                group.Add(channel);
            }
            return new IicGroupEndpoint(group, [.. channels], guard, partition);
        }
        catch
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
            throw;
        }
    }

    private sealed class Session(IicListener listener, LinkOptions options, string[] arguments) : ITransportSession
    {
        public ChildLaunch Server { get; } = ChildLaunch.Direct(arguments);

        public ChildLaunch? RemoteClient => null;

        public void ChildrenStarted()
        {
        }

        public IMessageEndpoint ConnectClient(RunGuard guard)
        {
            if (options.Test != BenchTest.Channels)
            {
                return new IicEndpoint(listener.Accept(guard.Remaining), guard, null);
            }
            var channels = new List<IicChannel>(options.Channels);
            try
            {
                for (var i = 0; i < options.Channels; i++)
                {
                    channels.Add(listener.Accept(guard.Remaining));
                }
                return new IicChannelsClientEndpoint([.. channels], options.SpreadTraffic, guard);
            }
            catch
            {
                foreach (var channel in channels)
                {
                    channel.Dispose();
                }
                throw;
            }
        }

        public void Dispose() => listener.Dispose();
    }
}
