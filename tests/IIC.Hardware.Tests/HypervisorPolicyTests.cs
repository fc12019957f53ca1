using System.Globalization;
using IIC.Native;
using IIC.Tests;
using IIC.Transport;

namespace IIC.Hardware.Tests;

/// <summary>Where the socket lives, who may attach, who may use a service, and that nothing is reachable without a grant.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class HypervisorPolicyTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public void Socket_directory_is_created_0700_and_the_socket_is_at_the_documented_path()
    {
        var parent = Directory.CreateTempSubdirectory("iic-hv-parent-").FullName;
        try
        {
            var directory = Path.Combine(parent, "iic");
            var name = "hv-" + Guid.NewGuid().ToString("N")[..12];
            using (var hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = directory }))
            {
                Assert.Equal(Private, File.GetUnixFileMode(directory));
                Assert.Equal(Path.Combine(directory, name + ".sock"), hypervisor.SocketPath);
                Assert.Equal(hypervisor.SocketPath, HypervisorPaths.SocketPath(name, directory));
                Assert.True(File.Exists(hypervisor.SocketPath), "the socket exists while the hypervisor runs");
            }
            Assert.False(File.Exists(Path.Combine(directory, name + ".sock")), "Dispose removes the socket");

            // The default: $XDG_RUNTIME_DIR/iic when set and existing, else /tmp/iic-UID.
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            var expected = !string.IsNullOrEmpty(runtime) && Directory.Exists(runtime)
                ? Path.Combine(runtime, "iic")
                : "/tmp/iic-" + Credentials.EffectiveUserId.ToString(CultureInfo.InvariantCulture);
            Assert.Equal(Path.Combine(expected, "x.sock"), HypervisorPaths.SocketPath("x"));

            // A directory others can enter is refused at Start, with the fix in the message.
            var open = Path.Combine(parent, "open");
            Directory.CreateDirectory(open);
            File.SetUnixFileMode(open, Private | UnixFileMode.OtherExecute);
            var error = Assert.Throws<UnauthorizedAccessException>(() => Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = open }));
            Assert.Contains("chmod 700", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
    }

    [Fact]
    public void A_stale_socket_of_a_killed_hypervisor_is_replaced_and_a_second_live_start_fails()
    {
        using var scope = new HypervisorScope();
        using (var host = ChildProcess.Start("hv-host", scope.Name, scope.Directory))
        {
            Assert.StartsWith("ready ", host.ReadLine());
            var duplicate = Assert.Throws<InvalidOperationException>(() => scope.Start());
            Assert.Contains("already running", duplicate.Message, StringComparison.Ordinal);
            host.Process.Kill();
            Assert.True(host.Process.WaitForExit(TimeSpan.FromSeconds(10)));
        }
        Assert.True(File.Exists(scope.SocketPath), "SIGKILL leaves the socket file behind");
        using var hypervisor = scope.Start();
        using var partition = scope.Attach("after-stale");
        Assert.Equal(Environment.ProcessId, partition.HypervisorProcessId);
        Assert.Throws<InvalidOperationException>(() => scope.Start());
    }

    [Fact]
    public void AllowedUids_without_our_uid_refuses_us_with_a_printable_reason()
    {
        using var scope = new HypervisorScope();
        var other = Credentials.EffectiveUserId + 4242;
        var log = new List<string>();
        using var hypervisor = scope.Start(new HypervisorOptions { AllowedUids = new HashSet<uint> { other }, Log = l => { lock (log) { log.Add(l); } } });
        var error = Assert.Throws<HypervisorException>(() => scope.Attach("me"));
        Assert.Equal(ControlError.PolicyDenied, error.Error);
        Assert.Contains($"uid {Credentials.EffectiveUserId}", error.Message, StringComparison.Ordinal);
        Assert.Contains(other.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        WaitFor.Condition(() => hypervisor.PartitionCount == 0, "the refused partition is not attached");
        lock (log)
        {
            Assert.Contains(log, l => l.StartsWith("refused:", StringComparison.Ordinal));
        }

        // And the allow-list admits the uids it names.
        using var scope2 = new HypervisorScope();
        using var admitting = scope2.Start(new HypervisorOptions { AllowedUids = new HashSet<uint> { other, Credentials.EffectiveUserId } });
        using var partition = scope2.Attach("me");
        Assert.Equal(1, admitting.PartitionCount);
    }

    [Fact]
    public void A_partition_of_another_uid_cannot_reach_a_private_socket_and_is_refused_by_SO_PEERCRED_policy_on_an_open_one()
    {
        var otherUid = OtherUser.Ensure();
        Assert.True(otherUid is not null || Credentials.EffectiveUserId != 0, "running as root but could not create the user " + OtherUser.Name);
        if (otherUid is null)
        {
            // Not root: we cannot become another user; AllowedUids_without_our_uid_refuses_us covers the policy itself.
            Assert.NotEqual(0u, Credentials.EffectiveUserId);
            return;
        }

        // (a) The default 0700 directory: the other user cannot even connect.
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        var (code, output) = OtherUser.RunScenario("hv-try-attach", scope.Name, scope.Directory, "intruder");
        Assert.True(code == 0, output);
        Assert.StartsWith("refused none ", output, StringComparison.Ordinal);
        Assert.Contains("not running", output, StringComparison.Ordinal);
        Assert.Equal(0, hypervisor.PartitionCount);

        // (b) Directory and socket opened up after Start: the connection reaches the hypervisor, SO_PEERCRED says
        // who it is, and the default policy (own uid only) refuses it with a reason.
        File.SetUnixFileMode(scope.Directory, Private | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(scope.SocketPath, (UnixFileMode)Convert.ToInt32("666", 8));
        (code, output) = OtherUser.RunScenario("hv-try-attach", scope.Name, scope.Directory, "intruder");
        Assert.True(code == 0, output);
        Assert.StartsWith("refused PolicyDenied ", output, StringComparison.Ordinal);
        Assert.Contains($"uid {otherUid}", output, StringComparison.Ordinal);
        Assert.Contains("intruder", output, StringComparison.Ordinal);
        Assert.Equal(0, hypervisor.PartitionCount);

        // The same hypervisor admits that uid once the policy names it.
        using var scope2 = new HypervisorScope();
        using var admitting = scope2.Start(new HypervisorOptions { AllowedUids = new HashSet<uint> { otherUid.Value } });
        File.SetUnixFileMode(scope2.Directory, Private | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(scope2.SocketPath, (UnixFileMode)Convert.ToInt32("666", 8));
        (code, output) = OtherUser.RunScenario("hv-try-attach", scope2.Name, scope2.Directory, "friend");
        Assert.True(code == 0, output);
        Assert.Equal("attached", output.Trim());
    }

    [Fact]
    public void A_service_allow_list_refuses_unlisted_partitions_for_listen_and_connect()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions
        {
            ServicePartitions = new Dictionary<string, IReadOnlySet<string>> { ["vault"] = new HashSet<string> { "keeper", "teller" } },
        });
        using var stranger = scope.Attach("stranger");
        var listen = Assert.Throws<HypervisorException>(() => stranger.Listen("vault"));
        Assert.Equal(ControlError.PolicyDenied, listen.Error);
        Assert.Contains("'stranger' may not offer service 'vault'", listen.Message, StringComparison.Ordinal);

        using var keeper = scope.Attach("keeper");
        using var vault = keeper.Listen("vault");
        var connect = Assert.Throws<HypervisorException>(() => stranger.Connect("vault", 4096, TimeSpan.Zero));
        Assert.Equal(ControlError.PolicyDenied, connect.Error);
        Assert.Contains("'stranger' may not connect to service 'vault'", connect.Message, StringComparison.Ordinal);
        Assert.Equal(0, hypervisor.GrantCount);

        using var teller = scope.Attach("teller");
        using var granted = teller.Connect("vault", 4096, TimeSpan.Zero);
        using var accepted = vault.Accept(TimeSpan.FromSeconds(10));
        Assert.Equal("teller", accepted.PeerName);

        // Services not listed stay open to everyone.
        using var open = stranger.Listen("lobby");
        using var visitor = teller.Connect("lobby", 4096, TimeSpan.Zero);
        Assert.Equal(2, hypervisor.GrantCount);
    }

    [Fact]
    public void Windows_exist_only_as_memfds_never_in_dev_shm_or_the_file_system_and_another_uid_cannot_open_them()
    {
        static string[] ShmEntries() => Directory.Exists("/dev/shm") ? Directory.GetFileSystemEntries("/dev/shm").Where(e => e.Contains("iic", StringComparison.OrdinalIgnoreCase)).ToArray() : [];
        var shmBefore = ShmEntries();
        const string Service = "secret-window";
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start();
        using var server = scope.Attach("server");
        using var client = scope.Attach("client");
        using var listener = server.Listen(Service);
        using var connection = client.Connect(Service, 4096, TimeSpan.Zero);
        using var incoming = listener.Accept(TimeSpan.FromSeconds(10));

        Assert.Equal(shmBefore, ShmEntries());
        Assert.DoesNotContain(Directory.GetFileSystemEntries(scope.Directory), e => !e.EndsWith(".sock", StringComparison.Ordinal));
        var windows = HypervisorTestSupport.WindowDescriptors(Service);
        Assert.Equal(3, windows.Count); // the hypervisor's, the listener's and the connector's descriptor of one memfd
        Assert.All(windows, w => Assert.Matches(@"^/memfd:iic-secret-window-\d+ \(deleted\)$", w.Target));
        Assert.Contains(windows, w => w.Fd == connection.Window.File.Value);

        var otherUid = OtherUser.Ensure();
        if (otherUid is not null)
        {
            var path = $"/proc/{Environment.ProcessId}/fd/{connection.Window.File.Value}";
            var (code, output) = OtherUser.RunScenario("hv-try-open", path);
            Assert.True(code == 0, output);
            Assert.StartsWith("denied ", output, StringComparison.Ordinal);
        }
    }
}
