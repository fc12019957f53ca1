using System.Globalization;
using IIC.Hardware;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// An embedded hypervisor with a unique name in a unique socket directory, this test process attached to it as
/// partition "parent", and helpers that start a child partition (IIC.TestHost's transport scenarios) connected
/// to a service this process listens on.
/// </summary>
internal sealed class TransportHost : IDisposable
{
    private static int s_services;

    private TransportHost(string name, string directory, Hypervisor hypervisor, Partition partition)
    {
        Name = name;
        SocketDirectory = directory;
        Hypervisor = hypervisor;
        Partition = partition;
    }

    public static TimeSpan Timeout { get; } = TimeSpan.FromSeconds(20);

    public string Name { get; }

    public string SocketDirectory { get; }

    public Hypervisor Hypervisor { get; }

    public Partition Partition { get; }

    public static TransportHost Start()
    {
        var name = "t-" + Guid.NewGuid().ToString("N")[..12];
        var directory = Directory.CreateTempSubdirectory("iic-hv-").FullName; // 0700
        var hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = directory });
        try
        {
            return new TransportHost(name, directory, hypervisor, Partition.Attach(name, "parent", directory));
        }
        catch
        {
            hypervisor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Listens on a fresh service, starts <paramref name="scenario"/> in a child that connects to it, and returns
    /// the child and this side's channel once the child printed "connected".
    /// </summary>
    public async Task<(ChildProcess Child, IicChannel Channel)> StartChildAsync(string scenario, int ringCapacity, params string[] more)
    {
        var service = "svc-" + Interlocked.Increment(ref s_services).ToString(CultureInfo.InvariantCulture);
        using var listener = IicListener.Listen(Partition, service);
        var child = ChildProcess.Start(scenario, [Name, SocketDirectory, service, ringCapacity.ToString(CultureInfo.InvariantCulture), .. more]);
        try
        {
            using var cancellation = new CancellationTokenSource(Timeout);
            var accept = listener.AcceptAsync(cancellation.Token).AsTask();
            while (!accept.IsCompleted)
            {
                if (child.Process.HasExited)
                {
                    Assert.Fail($"The child exited before connecting.{Environment.NewLine}{child}");
                }
                await Task.WhenAny(accept, child.Process.WaitForExitAsync(cancellation.Token));
            }
            if (!accept.IsCompletedSuccessfully)
            {
                Assert.Fail($"No connection from the child within {Timeout.TotalSeconds} s ({accept.Exception?.InnerException?.Message ?? "cancelled"}).{Environment.NewLine}{child}");
            }
            var channel = await accept;
            Assert.Equal("connected", child.ReadLine(Timeout));
            return (child, channel);
        }
        catch
        {
            child.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Partition.Dispose();
        Hypervisor.Dispose();
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
