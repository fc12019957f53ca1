using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 12 point 2: running out of descriptors is an answer, never a crash, on both sides of the control socket.
/// The limits are lowered in real child processes with prlimit (setrlimit RLIMIT_NOFILE from outside).
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class ExhaustionTests(ITestOutputHelper output)
{
    [Fact]
    public void A_partition_out_of_descriptors_gets_a_clear_exception_stays_consistent_and_disposes_cleanly()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var child = ChildProcess.Start("cp-fd-exhaust", scope.Name, scope.Directory, "fd-child", "fd-svc");
        Assert.Equal("attached", child.ReadLine(PartitionHost.Timeout));
        var open = Directory.GetFiles($"/proc/{child.Id}/fd").Length;
        Limit(child.Id, open + 40);
        child.WriteLine("go");
        var failed = child.ReadLine(PartitionHost.Timeout);
        var state = child.ReadLine(PartitionHost.Timeout);
        var disposed = child.ReadLine(PartitionHost.Timeout);
        output.WriteLine($"{open} descriptors open at the start; {failed}; {state}; {disposed}");
        Assert.StartsWith("failed ", failed, StringComparison.Ordinal);
        Assert.Contains("ResourceExhausted", failed, StringComparison.Ordinal);
        Assert.Contains("descriptor limit (ulimit -n)", failed, StringComparison.Ordinal);
        Assert.StartsWith("connected True", state, StringComparison.Ordinal); // still attached: it can go on once it frees descriptors
        Assert.Equal("disposed", disposed);
        // Its Dispose detached it and released every grant it held: the hypervisor's books agree.
        WaitFor.Condition(() => hypervisor.PartitionCount == 0 && hypervisor.GrantCount == 0, "the child's partition and grants to leave the hypervisor's books",
            diagnostics: () => $"{hypervisor.PartitionCount} partitions, {hypervisor.GrantCount} grants");
    }

    [Fact]
    public void A_hypervisor_out_of_descriptors_refuses_requests_with_an_error_and_serves_again_once_they_are_freed()
    {
        var name = "ex-" + Guid.NewGuid().ToString("N")[..12];
        var directory = Directory.CreateTempSubdirectory("iic-ex-").FullName;
        using var hypervisor = ChildProcess.Start("cp-hv-host", name, directory);
        try
        {
            Assert.StartsWith("ready", hypervisor.ReadLine(PartitionHost.Timeout), StringComparison.Ordinal);
            using var partition = Partition.Attach(name, "greedy", directory);
            using var listener = partition.Listen("self");
            var open = Directory.GetFiles($"/proc/{hypervisor.Id}/fd").Length;
            Limit(hypervisor.Id, open + 24);
            var held = new List<GrantedConnection>();
            HypervisorException? refusal = null;
            try
            {
                while (refusal is null && held.Count < 200)
                {
                    try
                    {
                        held.Add(partition.Connect("self", DescriptorRing.MinCapacity, TimeSpan.Zero));
                        held.Add(listener.Accept(PartitionHost.Timeout));
                    }
                    catch (HypervisorException e)
                    {
                        refusal = e;
                    }
                }
                output.WriteLine($"{held.Count / 2} connections before: {refusal?.Message}");
                Assert.NotNull(refusal);
                Assert.Equal(ControlError.ResourceExhausted, refusal.Error);
                Assert.Contains("EMFILE", refusal.Message, StringComparison.Ordinal);

                // New control connections while it is out: shed (closed at once, via its spare descriptor), not a crash.
                for (var i = 0; i < 3; i++)
                {
                    Assert.Throws<HypervisorException>(() => Partition.Attach(name, "late-" + i.ToString(CultureInfo.InvariantCulture), directory));
                }
                Assert.False(hypervisor.Process.HasExited, "the hypervisor died when it ran out of descriptors");
                Assert.True(partition.IsHypervisorConnected);
            }
            finally
            {
                foreach (var connection in held)
                {
                    connection.Dispose();
                }
            }
            // Freed: it serves again, the same partition and new ones.
            var start = Stopwatch.GetTimestamp();
            GrantedConnection? again = null;
            WaitFor.Condition(() =>
            {
                try
                {
                    again = partition.Connect("self", DescriptorRing.MinCapacity, TimeSpan.Zero);
                    return true;
                }
                catch (HypervisorException e) when (e.Error == ControlError.ResourceExhausted)
                {
                    return false; // its releases are still being processed
                }
            }, "a connect to succeed once descriptors were freed", PartitionHost.Timeout);
            using (again)
            using (listener.Accept(PartitionHost.Timeout))
            {
                // The grant above may have come from the pool before the helper thread closed the released windows:
                // until it has, the descriptor table can still be full and a new control connection is shed (its
                // partition reads a hang-up). Served again means: once the releases are processed, attaches succeed.
                Partition? after = null;
                WaitFor.Condition(() =>
                {
                    Assert.False(hypervisor.Process.HasExited, "the hypervisor died after its descriptors were freed");
                    try
                    {
                        after = Partition.Attach(name, "after", directory);
                        return true;
                    }
                    catch (HypervisorException)
                    {
                        return false; // shed while the releases are still being processed
                    }
                }, "a new partition to attach once descriptors were freed", PartitionHost.Timeout);
                after!.Dispose();
                output.WriteLine($"serving again {Stopwatch.GetElapsedTime(start).TotalMilliseconds:0} ms after the release");
            }
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }

    /// <summary>Lowers a process's descriptor limit (soft and hard) with prlimit(1).</summary>
    private static void Limit(int pid, int descriptors)
    {
        var value = descriptors.ToString(CultureInfo.InvariantCulture);
        using var prlimit = Process.Start(new ProcessStartInfo("prlimit", ["--pid", pid.ToString(CultureInfo.InvariantCulture), $"--nofile={value}:{value}"]) { UseShellExecute = false })!;
        Assert.True(prlimit.WaitForExit(TimeSpan.FromSeconds(10)), "prlimit did not finish");
        Assert.Equal(0, prlimit.ExitCode);
    }
}
