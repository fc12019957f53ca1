using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Tests;

/// <summary>
/// An embedded hypervisor (or one in a child process) with a unique name in a unique 0700 socket directory, this
/// test process attached to it as partition "parent", and a helper that starts a child scenario connecting to a
/// fresh service this process listens on.
/// </summary>
internal sealed class PartitionHost : IDisposable
{
    private static int s_services;
    private readonly ChildProcess? _hypervisorChild;

    private PartitionHost(string name, string directory, Hypervisor? hypervisor, ChildProcess? hypervisorChild, Partition partition)
    {
        Name = name;
        SocketDirectory = directory;
        Hypervisor = hypervisor;
        _hypervisorChild = hypervisorChild;
        Partition = partition;
    }

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(30);

    public string Name { get; }

    public string SocketDirectory { get; }

    public Hypervisor? Hypervisor { get; }

    public ChildProcess? HypervisorChild => _hypervisorChild;

    public Partition Partition { get; }

    /// <summary>Starts the hypervisor here (embedded) or, with <paramref name="inChild"/>, in a child process ("hv-host").</summary>
    public static PartitionHost Start(bool inChild = false)
    {
        var name = "p-" + Guid.NewGuid().ToString("N")[..12];
        var directory = Directory.CreateTempSubdirectory("iic-hv-").FullName; // 0700
        Hypervisor? hypervisor = null;
        ChildProcess? child = null;
        try
        {
            if (inChild)
            {
                child = ChildProcess.Start("hv-host", name, directory);
                Assert.StartsWith("ready", child.ReadLine(Timeout), StringComparison.Ordinal);
            }
            else
            {
                hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = directory });
            }
            return new PartitionHost(name, directory, hypervisor, child, Partition.Attach(name, "parent", directory));
        }
        catch
        {
            hypervisor?.Dispose();
            child?.Dispose();
            throw;
        }
    }

    /// <summary>A fresh service name.</summary>
    public static string NewService() => "svc-" + Interlocked.Increment(ref s_services).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Listens on a fresh service, starts <paramref name="scenario"/> in a child that connects
    /// <paramref name="channels"/> channels to it, and returns the child and this side's channels once it printed
    /// a line starting with "connected".
    /// </summary>
    public (ChildProcess Child, List<IicChannel> Channels) StartChild(string scenario, int ringCapacity, int channels, ChannelOptions? options, params string[] more)
    {
        var service = NewService();
        using var listener = IicListener.Listen(Partition, service, options);
        var child = ChildProcess.Start(scenario, [Name, SocketDirectory, service, ringCapacity.ToString(CultureInfo.InvariantCulture), .. more]);
        var accepted = new List<IicChannel>();
        try
        {
            for (var i = 0; i < channels; i++)
            {
                accepted.Add(Accept(listener, child));
            }
            Assert.StartsWith("connected", child.ReadLine(Timeout), StringComparison.Ordinal);
            return (child, accepted);
        }
        catch
        {
            child.Dispose();
            foreach (var channel in accepted)
            {
                channel.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// Listens on a fresh service, starts <paramref name="scenario"/> in a child that connects one channel to it,
    /// and returns the child and this side's channel once the child printed "connected".
    /// </summary>
    public Task<(ChildProcess Child, IicChannel Channel)> StartChildAsync(string scenario, int ringCapacity, params string[] more)
    {
        var (child, channels) = StartChild(scenario, ringCapacity, 1, null, more);
        return Task.FromResult((child, channels[0]));
    }

    /// <summary>Accepts one channel, failing at once (with its output) if the child exits first.</summary>
    public static IicChannel Accept(IicListener listener, ChildProcess child)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                return listener.Accept(TimeSpan.FromMilliseconds(200));
            }
            catch (TimeoutException)
            {
                if (child.Process.HasExited)
                {
                    Assert.Fail($"The child exited before connecting.{Environment.NewLine}{child}");
                }
                if (Stopwatch.GetElapsedTime(start) > Timeout)
                {
                    Assert.Fail($"No connection from the child within {Timeout.TotalSeconds} s.{Environment.NewLine}{child}");
                }
            }
        }
    }

    public void Dispose()
    {
        Partition.Dispose();
        Hypervisor?.Dispose();
        _hypervisorChild?.Dispose();
        try
        {
            Directory.Delete(SocketDirectory, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
