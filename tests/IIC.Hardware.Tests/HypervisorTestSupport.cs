using System.Diagnostics;
using System.Globalization;
using System.Text;
using IIC.Native;

namespace IIC.Hardware.Tests;

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

/// <summary>Helpers for the hypervisor tests: descriptors of this process, SIGTERM. (Another user: tests/Shared/OtherUser.cs.)</summary>
internal static class HypervisorTestSupport
{
    /// <summary>(fd, link target) of every descriptor this process has open now.</summary>
    public static List<(int Fd, string Target)> OpenDescriptors()
    {
        var result = new List<(int, string)>();
        foreach (var entry in new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos())
        {
            try
            {
                result.Add((int.Parse(entry.Name, CultureInfo.InvariantCulture), entry.LinkTarget ?? ""));
            }
            catch (IOException)
            {
                // closed while we listed (the directory's own descriptor, or another thread's)
            }
        }
        return result;
    }

    /// <summary>Descriptors that are windows of <paramref name="service"/> (memfds named iic-SERVICE-ID).</summary>
    public static List<(int Fd, string Target)> WindowDescriptors(string service)
        => OpenDescriptors().Where(d => d.Target.StartsWith($"/memfd:iic-{service}-", StringComparison.Ordinal)).ToList();

    /// <summary>Sends SIGTERM to <paramref name="pid"/> with kill(1).</summary>
    public static void Terminate(int pid)
    {
        var (code, output) = IIC.Tests.Programs.Run("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, $"kill -TERM {pid} failed: {output}");
    }
}
