using System.Diagnostics;
using IIC.Hardware;
using IIC.Native;
using IIC.Tests;

namespace IIC.Hardware.Tests;

/// <summary>A partition trusts only a hypervisor of its own user (or root), and a hypervisor only a directory of its own.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HypervisorTrustTests : IDisposable
{
    private readonly DirectoryInfo _parent = Directory.CreateTempSubdirectory("iic-trust-");

    public void Dispose() => _parent.Delete(recursive: true);

    [Fact]
    public void A_socket_directory_of_another_user_is_refused_before_anything_is_bound()
    {
        var otherUid = OtherUser.Ensure();
        var directory = Path.Combine(_parent.FullName, "planted");
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (otherUid is { } uid)
        {
            var (code, output) = Programs.Run("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), directory]);
            Assert.True(code == 0, output);
            var e = Assert.Throws<UnauthorizedAccessException>(() => Hypervisor.Start("trust-" + Guid.NewGuid().ToString("N")[..8], new HypervisorOptions { SocketDirectory = directory }));
            Assert.Contains("not a directory owned by uid", e.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(directory));
        }
        else
        {
            // Not root: a symbolic link in place of the directory is refused the same way.
            var link = Path.Combine(_parent.FullName, "link");
            File.CreateSymbolicLink(link, directory);
            var e = Assert.Throws<UnauthorizedAccessException>(() => Hypervisor.Start("trust-" + Guid.NewGuid().ToString("N")[..8], new HypervisorOptions { SocketDirectory = link }));
            Assert.Contains("not a directory owned by uid", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_partition_refuses_to_attach_to_a_hypervisor_run_by_another_user()
    {
        var otherUid = OtherUser.Ensure();
        if (otherUid is null)
        {
            // Without a second user there is no foreign hypervisor to meet; our own is accepted.
            var ownName = "trust-" + Guid.NewGuid().ToString("N")[..8];
            using var own = Hypervisor.Start(ownName, new HypervisorOptions { SocketDirectory = Path.Combine(_parent.FullName, "own") });
            using var partition = Partition.Attach(ownName, "me", Path.Combine(_parent.FullName, "own"));
            Assert.True(partition.IsHypervisorConnected);
            return;
        }
        // A world-writable parent, so the other user can create its own 0700 socket directory inside it.
        File.SetUnixFileMode(_parent.FullName, (UnixFileMode)Convert.ToInt32("1777", 8));
        var directory = Path.Combine(_parent.FullName, "foreign");
        var name = "trust-" + Guid.NewGuid().ToString("N")[..8];
        using var foreign = OtherUser.StartScenario("hv-host", name, directory);
        try
        {
            var ready = await foreign.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(ready is not null && ready.StartsWith("ready", StringComparison.Ordinal), "the foreign hypervisor did not start: " + ready);
            // Root can reach the socket whatever its mode; the partition must still refuse.
            var e = Assert.Throws<HypervisorException>(() => Partition.Attach(name, "victim", directory));
            Assert.Contains($"served by uid {otherUid}", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            foreign.StandardInput.Close();
            if (!foreign.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                foreign.Kill(entireProcessTree: true);
            }
        }
    }
}
