using System.Diagnostics;
using System.Text;
using IIC.Tests;

namespace IIC.Hardware.Tests;

/// <summary>The <c>iic</c> tool as a real process.</summary>
public class HypervisorCliTests
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "iic.dll");

    [Fact]
    public void Iic_hypervisor_serves_partitions_logs_them_and_exits_0_on_SIGTERM_removing_its_socket()
    {
        using var scope = new HypervisorScope();
        Assert.True(File.Exists(CliDll), $"{CliDll} is missing: the test project must reference src/IIC.Cli");
        var info = new ProcessStartInfo(IIC.Tests.Dotnet.HostPath())
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var arg in (string[])[CliDll, "hypervisor", "--name", scope.Name, "--socket-dir", scope.Directory, "--service-allow", "vault=keeper"])
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (stderr) { stderr.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string Output() => string.Join(Environment.NewLine, lines) + Environment.NewLine + "--- stderr ---" + Environment.NewLine + stderr;
        try
        {
            WaitFor.Condition(() => lines.Any(l => l.Contains($"listening on {scope.SocketPath}", StringComparison.Ordinal)), "the CLI's 'listening' line",
                TimeSpan.FromSeconds(15), Output);
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", lines.First());
            using (var partition = scope.Attach("cli-client"))
            {
                var refused = Assert.Throws<HypervisorException>(() => partition.Listen("vault"));
                Assert.Equal(ControlError.PolicyDenied, refused.Error);
                using var listener = partition.Listen("open");
                using var connection = partition.Connect("open", 4096, TimeSpan.Zero);
                WaitFor.Condition(() => lines.Any(l => l.Contains("granted connection", StringComparison.Ordinal)), "a grant logged", null, Output);
            }
            WaitFor.Condition(() => lines.Any(l => l.Contains("partition 'cli-client'", StringComparison.Ordinal) && l.Contains("left", StringComparison.Ordinal)),
                "the detach logged", null, Output);
            Assert.Contains(lines, l => l.Contains("attached partition 'cli-client'", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.Contains("refused: partition 'cli-client' may not offer service 'vault'", StringComparison.Ordinal));

            HypervisorTestSupport.Terminate(process.Id);
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(10)), "the CLI did not exit within 10 s of SIGTERM" + Environment.NewLine + Output());
            process.WaitForExit(); // drain the output
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}{Environment.NewLine}{Output()}");
            Assert.False(File.Exists(scope.SocketPath), "the socket file was removed");
            Assert.Contains(lines, l => l.Contains("received SIGTERM", StringComparison.Ordinal));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
    }

    [Theory]
    [InlineData(new[] { "hypervisor" }, "--name <name> is required")]
    [InlineData(new[] { "hypervisor", "--name" }, "--name needs a value")]
    [InlineData(new[] { "hypervisor", "--name", "x", "--allow-uid", "-1" }, "--allow-uid '-1' is not a user id")]
    [InlineData(new[] { "hypervisor", "--name", "x", "--service-allow", "svc" }, "must be <service>=<partition>")]
    [InlineData(new[] { "hypervisor", "--name", "bad name" }, "is not a valid name")]
    [InlineData(new[] { "hypervisor", "--name", "x", "--frobnicate" }, "unknown option '--frobnicate'")]
    [InlineData(new[] { "frobnicate" }, "unknown command 'frobnicate'")]
    public void Iic_rejects_bad_arguments_with_exit_code_64_and_a_clear_message(string[] args, string message)
    {
        var (code, output) = Programs.Run(IIC.Tests.Dotnet.HostPath(), [CliDll, .. args]);
        Assert.Equal(64, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public void Iic_hypervisor_help_lists_every_option()
    {
        var (code, output) = Programs.Run(IIC.Tests.Dotnet.HostPath(), [CliDll, "hypervisor", "--help"]);
        Assert.Equal(0, code);
        foreach (var option in (string[])["--name", "--allow-uid", "--service-allow", "--socket-dir", "SIGTERM"])
        {
            Assert.Contains(option, output, StringComparison.Ordinal);
        }
    }
}
