using System.Diagnostics;
using System.Globalization;
using System.Text;
using IIC.Native;

namespace IIC.Hardware.Tests;

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
