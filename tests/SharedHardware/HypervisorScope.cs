using IIC.Hardware;

namespace IIC.Tests;

/// <summary>A unique hypervisor name and a private socket directory per test, removed at the end.</summary>
internal sealed class HypervisorScope : IDisposable
{
    public HypervisorScope()
    {
        Name = "hv-" + Guid.NewGuid().ToString("N")[..12];
        Directory = System.IO.Directory.CreateTempSubdirectory("iic-hv-").FullName; // 0700
    }

    public string Name { get; }

    public string Directory { get; }

    public string SocketPath => Path.Combine(Directory, Name + ".sock");

    public Hypervisor Start(HypervisorOptions? options = null)
        => Hypervisor.Start(Name, (options ?? new HypervisorOptions()) with { SocketDirectory = Directory });

    public Partition Attach(string partition) => Partition.Attach(Name, partition, Directory);

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort: it is in the temporary directory
        }
    }
}
