using System.Diagnostics;
using System.Globalization;
using System.Text;
using IIC.Hardware;
using IIC.Native;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 12 point 7: identity from the kernel. A name held by one uid cannot be taken by another, names are unique
/// among attached partitions, and a non-dumpable hypervisor's descriptors cannot be reopened through /proc by a
/// process of its own uid. Runs the other side as a second user (runuser), so it needs root; without root there is
/// no second uid to be, and the test checks what it can (uniqueness) in-process.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TrustTests(ITestOutputHelper output)
{
    [Fact]
    public void A_name_held_or_reserved_by_one_uid_cannot_be_taken_by_another()
    {
        using var scope = new HypervisorScope();
        var otherUid = OtherUser.Ensure();
        var allowed = new HashSet<uint> { Credentials.EffectiveUserId };
        if (otherUid is { } uid)
        {
            allowed.Add(uid);
        }
        using var hypervisor = scope.Start(new HypervisorOptions
        {
            AllowedUids = allowed,
            NameOwners = new Dictionary<string, uint> { ["server"] = Credentials.EffectiveUserId },
        });
        using var holder = Partition.Attach(scope.Name, "holder", scope.Directory);
        // Unique among attached partitions, whoever asks.
        var duplicate = Assert.Throws<HypervisorException>(() => Partition.Attach(scope.Name, "holder", scope.Directory));
        Assert.Equal(ControlError.DuplicateName, duplicate.Error);
        if (otherUid is null)
        {
            Assert.NotEqual(0u, Credentials.EffectiveUserId); // as root the second user must exist
            return;
        }
        File.SetUnixFileMode(scope.Directory, (UnixFileMode)Convert.ToInt32("711", 8));
        File.SetUnixFileMode(HypervisorPaths.SocketPath(scope.Name, scope.Directory), (UnixFileMode)Convert.ToInt32("666", 8));

        var squat = RunAsOtherUser("hv-try-attach", scope.Name, scope.Directory, "server");
        output.WriteLine("reserved name: " + squat);
        Assert.StartsWith("refused PolicyDenied", squat, StringComparison.Ordinal);
        Assert.Contains("reserved for uid", squat, StringComparison.Ordinal);

        var taken = RunAsOtherUser("hv-try-attach", scope.Name, scope.Directory, "holder");
        output.WriteLine("held name: " + taken);
        Assert.StartsWith("refused DuplicateName", taken, StringComparison.Ordinal);

        Assert.StartsWith("attached", RunAsOtherUser("hv-try-attach", scope.Name, scope.Directory, "visitor"), StringComparison.Ordinal);
        // The real holder of "server" attaches whenever it comes.
        using var server = Partition.Attach(scope.Name, "server", scope.Directory);
    }

    [Fact]
    public void A_non_dumpable_hypervisor_keeps_its_descriptors_from_processes_of_its_own_uid()
    {
        if (OtherUser.Ensure() is null)
        {
            // Root passes ptrace checks anyway; the property needs a non-root uid to show.
            Assert.NotEqual(0u, Credentials.EffectiveUserId);
            return;
        }
        var parent = Directory.CreateTempSubdirectory("iic-trust-");
        try
        {
            File.SetUnixFileMode(parent.FullName, (UnixFileMode)Convert.ToInt32("1777", 8));
            foreach (var dumpable in new[] { true, false })
            {
                var name = "tr-" + Guid.NewGuid().ToString("N")[..10];
                using var host = OtherUser.StartScenario("cp-hv-host", name, Path.Combine(parent.FullName, name), dumpable ? "dumpable" : "nondumpable");
                var ready = host.StandardOutput.ReadLine();
                Assert.True(ready is not null && ready.StartsWith("ready ", StringComparison.Ordinal), "the hypervisor did not start: " + ready);
                var fields = ready!.Split(' ');
                var path = $"/proc/{fields[1]}/fd/{fields[2]}"; // a memfd window the hypervisor holds
                var result = RunAsOtherUser("hv-try-open", path);
                output.WriteLine($"{(dumpable ? "dumpable" : "non-dumpable")} hypervisor, same uid opens {path}: {result}");
                Assert.StartsWith(dumpable ? "opened" : "denied", result, StringComparison.Ordinal);
                host.StandardInput.WriteLine("stop");
                if (!host.WaitForExit(TimeSpan.FromSeconds(20)))
                {
                    host.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            parent.Delete(recursive: true);
        }
    }

    private static string RunAsOtherUser(string scenario, params string[] args)
    {
        var (code, text) = OtherUser.RunScenario(scenario, args);
        Assert.True(code == 0, text);
        return text.Trim();
    }
}
