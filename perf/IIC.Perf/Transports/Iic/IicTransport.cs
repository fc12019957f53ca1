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
    private readonly Lock _lock = new();
    private Hypervisor? _hypervisor;
    private Partition? _partition;
    private string? _socketDirectory;
    private int _sessions;

    public string Name => singleThreaded ? "iic-single" : "iic";

    public string Description => singleThreaded
        ? "IICFast channels with SingleWriter/SingleReader (the single-thread path), otherwise as iic"
        : "IICFast channels through an embedded hypervisor (sealed memfd window, SPSC rings, futex doorbell)";

    public IReadOnlyList<string> Modes => WaitModes.Selectable;

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Poll, ReceiveApi.Receive];

    public string? Unavailable() => LinuxPlatform.IsSupported ? null : "needs Linux on x64 or arm64 (memfd, futex, pidfd)";

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        var partition = EnsurePartition();
        var service = string.Create(CultureInfo.InvariantCulture, $"perf-{Interlocked.Increment(ref _sessions)}");
        var listener = IicListener.Listen(partition, service, ChannelOptionsFor(options));
        return new Session(listener, [_hypervisor!.Name, _socketDirectory!, service]);
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(guard);
        var partition = Partition.Attach(arguments[0], "perf-" + role.ToString().ToLowerInvariant(), arguments[1]);
        try
        {
            var channel = IicChannel.Connect(partition, arguments[2], ChannelOptionsFor(options), guard.Remaining);
            return new IicEndpoint(channel, guard, partition);
        }
        catch
        {
            partition.Dispose();
            throw;
        }
    }

    /// <summary>A ring that carries the run's messages unfragmented, whatever their size: 8 per ring, at least 1 MiB.</summary>
    private ChannelOptions ChannelOptionsFor(LinkOptions options) => new()
    {
        SingleWriter = singleThreaded,
        SingleReader = singleThreaded,
        WaitStrategy = WaitStrategy.Parse(options.Mode),
        RingCapacity = (int)Math.Max(WindowOptions.DefaultRingCapacity, BitOperations.RoundUpToPowerOf2((uint)(8 * (options.MessageSize + RecordHeader.Size)))),
        Name = "perf",
    };

    private Partition EnsurePartition()
    {
        lock (_lock)
        {
            if (_partition is null)
            {
                _socketDirectory = Directory.CreateTempSubdirectory("iicperf-").FullName;
                _hypervisor = Hypervisor.Start(Name + "perf-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), new HypervisorOptions { SocketDirectory = _socketDirectory });
                _partition = Partition.Attach(_hypervisor.Name, "perf-parent", _socketDirectory);
                CleanupRegistry.Register(new Teardown(this));
            }
            return _partition;
        }
    }

    private sealed class Teardown(IicTransport transport) : IDisposable
    {
        public void Dispose()
        {
            transport._partition?.Dispose();
            transport._hypervisor?.Dispose();
            if (transport._socketDirectory is { } directory && Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private sealed class Session(IicListener listener, string[] arguments) : ITransportSession
    {
        public ChildLaunch Server { get; } = ChildLaunch.Direct(arguments);

        public ChildLaunch? RemoteClient => null;

        public void ChildrenStarted()
        {
        }

        public IMessageEndpoint ConnectClient(RunGuard guard) => new IicEndpoint(listener.Accept(guard.Remaining), guard, null);

        public void Dispose() => listener.Dispose();
    }
}
