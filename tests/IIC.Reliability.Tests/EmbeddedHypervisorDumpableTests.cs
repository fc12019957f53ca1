using IIC.Tests;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 12 point 7 for the embedded hypervisor: non-dumpable by default like the daemon (HypervisorOptions.NonDumpable),
/// with an opt-out; the process is dumpable again once its last such hypervisor stopped.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class EmbeddedHypervisorDumpableTests
{
    [Fact]
    public void An_embedded_hypervisor_makes_its_process_non_dumpable_by_default_and_dumpable_again_when_it_stops()
    {
        var directory = Directory.CreateTempSubdirectory("iic-dump-").FullName;
        try
        {
            using var child = ChildProcess.Start("cp-dumpable", "dump-" + Guid.NewGuid().ToString("N")[..8], directory, "default");
            Assert.Equal("before 1", child.ReadLine(PartitionHost.Timeout));
            Assert.Equal("running 0", child.ReadLine(PartitionHost.Timeout)); // what that means for same-uid processes: TrustTests
            child.WriteLine("stop");
            Assert.Equal("after 1", child.ReadLine(PartitionHost.Timeout));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void The_opt_out_leaves_the_process_dumpable()
    {
        var directory = Directory.CreateTempSubdirectory("iic-dump-").FullName;
        try
        {
            using var child = ChildProcess.Start("cp-dumpable", "dump-" + Guid.NewGuid().ToString("N")[..8], directory, "dumpable");
            Assert.Equal("before 1", child.ReadLine(PartitionHost.Timeout));
            Assert.Equal("running 1", child.ReadLine(PartitionHost.Timeout));
            child.WriteLine("stop");
            Assert.Equal("after 1", child.ReadLine(PartitionHost.Timeout));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
