using System.Globalization;
using System.Numerics;
using IIC.Hardware;
using IIC.Native;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Transports.Iic;
using IIC.Transport;

namespace IIC.Perf.Isolation;

/// <summary>
/// IICFast between two partitions that are containers in all but name (<c>iic-ns</c>): the server and the client
/// each run in their own user, pid, network, mount and IPC namespaces, with private /tmp and /dev/shm, sharing
/// nothing but the hypervisor's socket directory (bind-mounted). The hypervisor is a third process in namespaces of
/// its own (<see cref="NamespacedHypervisor"/>, as a per-node daemon runs); the server child offers the service,
/// the client child connects and measures. Runs spin (the 100x target's mode) and park (every wake a futex doorbell across namespaces).
/// </summary>
internal sealed class NamespacedIicTransport : IIsolatedTransport
{
    private readonly Lock _lock = new();
    private NamespacedHypervisor? _hypervisor;
    private string? _name;
    private string? _socketDirectory;
    private int _sessions;

    public string Name => "iic-ns";

    public string Description => "IICFast with hypervisor, server and client each in their own user, pid, network, mount and IPC namespaces, sharing only the socket directory";

    public string Isolation => IsolationKind.Namespaces;

    public IReadOnlyList<string> Modes { get; } = [WaitModes.Spin, WaitModes.Park];

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Poll];

    public string? Unavailable() => LinuxPlatform.IsSupported ? NamespaceLauncher.Unavailable() : "needs Linux on x64 or arm64 (memfd, futex, pidfd)";

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        var (name, directory) = EnsureHypervisor();
        var service = string.Create(CultureInfo.InvariantCulture, $"perf-ns-{Interlocked.Increment(ref _sessions)}");
        return new Session(
            NamespaceLauncher.Wrap(ChildLaunch.Direct(name, directory, service, "listen"), directory),
            NamespaceLauncher.Wrap(ChildLaunch.Direct(name, directory, service, "connect"), directory));
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(guard);
        var partition = Partition.Attach(arguments[0], "perf-ns-" + role.ToString().ToLowerInvariant() + "-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), arguments[1]); // names are unique
        try
        {
            var channelOptions = new ChannelOptions
            {
                WaitStrategy = WaitStrategy.Parse(options.Mode),
                RingCapacity = (int)Math.Max(WindowOptions.DefaultRingCapacity, BitOperations.RoundUpToPowerOf2((uint)(8 * (options.MessageSize + RecordHeader.Size)))),
                Name = "perf-ns",
            };
            IicChannel channel;
            if (arguments[3] == "listen")
            {
                using var listener = IicListener.Listen(partition, arguments[2], channelOptions);
                channel = listener.Accept(guard.Remaining);
            }
            else
            {
                channel = IicChannel.Connect(partition, arguments[2], channelOptions, guard.Remaining);
            }
            return new IicEndpoint(channel, guard, partition);
        }
        catch
        {
            partition.Dispose();
            throw;
        }
    }

    private (string Name, string Directory) EnsureHypervisor()
    {
        lock (_lock)
        {
            if (_hypervisor is null)
            {
                _socketDirectory = Directory.CreateTempSubdirectory("iicperf-ns-").FullName;
                _name = "iicperf-ns-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
                CleanupRegistry.Register(new Teardown(this));
                _hypervisor = NamespacedHypervisor.Start(_name, _socketDirectory);
            }
            return (_name!, _socketDirectory!);
        }
    }

    private sealed class Teardown(NamespacedIicTransport transport) : IDisposable
    {
        public void Dispose()
        {
            transport._hypervisor?.Dispose();
            if (transport._socketDirectory is { } directory && Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private sealed class Session(ChildLaunch server, ChildLaunch client) : ITransportSession
    {
        public ChildLaunch Server => server;

        public ChildLaunch? RemoteClient => client;

        public void ChildrenStarted()
        {
        }

        public IMessageEndpoint ConnectClient(RunGuard guard) => throw new InvalidOperationException("iic-ns's client runs as a namespaced child.");

        public void Dispose()
        {
        }
    }
}
