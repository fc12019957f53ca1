using System.Globalization;
using IIC.Hardware;
using IIC.Perf.Harness;

namespace IIC.Perf.Transports.Iic;

/// <summary>
/// The run's embedded hypervisor and this process's partition, started on first use and torn down at exit: every
/// iic measurement (the transport, fan-in, connect) goes through them. Children attach with <see cref="HypervisorName"/>
/// and <see cref="SocketDirectory"/>.
/// </summary>
internal static class IicHost
{
    private static readonly Lock s_lock = new();
    private static Hypervisor? s_hypervisor;
    private static Partition? s_partition;
    private static string? s_socketDirectory;

    public static string HypervisorName => Ensure().Hypervisor.Name;

    public static string SocketDirectory => Ensure().SocketDirectory;

    public static Partition Partition => Ensure().Partition;

    private static (Hypervisor Hypervisor, Partition Partition, string SocketDirectory) Ensure()
    {
        lock (s_lock)
        {
            if (s_partition is null)
            {
                s_socketDirectory = Directory.CreateTempSubdirectory("iicperf-").FullName;
                s_hypervisor = Hypervisor.Start("iicperf-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), new HypervisorOptions
                {
                    SocketDirectory = s_socketDirectory,
                    // The sizes test carries 64 MiB messages unfragmented: 512 MiB rings (the default cap is 64 MiB).
                    MaxRingCapacity = DescriptorRing.MaxCapacity,
                    // ... and so a window of two such rings (1 GiB and its header) per connection: the default
                    // per-partition window quota is exactly 1 GiB. Nothing is committed until written.
                    MaxWindowBytesPerPartition = 4L << 30,
                    MaxWindowBytesPerUid = 8L << 30,
                    // The channels test's server connects 1,000 channels in a burst while this process accepts them one
                    // by one; under load the default 64 queued grants refused the burst (LimitExceeded).
                    MaxQueuedGrantsPerPartition = 1024,
                });
                s_partition = Partition.Attach(s_hypervisor.Name, "perf-parent", s_socketDirectory);
                CleanupRegistry.Register(new Teardown());
            }
            return (s_hypervisor!, s_partition, s_socketDirectory!);
        }
    }

    private sealed class Teardown : IDisposable
    {
        public void Dispose()
        {
            lock (s_lock)
            {
                s_partition?.Dispose();
                s_hypervisor?.Dispose();
                if (s_socketDirectory is { } directory && Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
                s_partition = null;
                s_hypervisor = null;
            }
        }
    }
}
