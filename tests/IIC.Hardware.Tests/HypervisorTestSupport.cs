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

/// <summary>Helpers for the hypervisor tests: descriptors of this process, another user, processes run as it.</summary>
internal static class HypervisorTestSupport
{
    public const string OtherUser = "iic-test-other";

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

    /// <summary>The uid of <see cref="OtherUser"/>, creating it if missing; null when we are not root or cannot create users.</summary>
    public static uint? EnsureOtherUser()
    {
        if (Credentials.EffectiveUserId != 0)
        {
            return null;
        }
        var (code, output) = Run("id", ["-u", OtherUser]);
        if (code != 0)
        {
            (code, _) = Run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OtherUser]);
            if (code != 0)
            {
                return null;
            }
            (code, output) = Run("id", ["-u", OtherUser]);
        }
        return code == 0 ? uint.Parse(output.Trim(), CultureInfo.InvariantCulture) : null;
    }

    /// <summary>Runs a child test host scenario as <see cref="OtherUser"/> (runuser) and returns its exit code and stdout.</summary>
    public static (int ExitCode, string Output) RunAsOtherUser(string scenario, params string[] args)
    {
        var testHost = Path.Combine(AppContext.BaseDirectory, "IIC.TestHost.dll");
        return Run("runuser", ["-u", OtherUser, "--", IIC.Tests.Dotnet.HostPath(), testHost, scenario, .. args]);
    }

    /// <summary>Runs a program to completion (bounded: 20 s) and returns its exit code and stdout (stderr appended on failure).</summary>
    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["DOTNET_CLI_HOME"] = "/tmp";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish within 20 s.");
        }
        Assert.True(Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(5)), "the output of a finished process was not read");
        return (process.ExitCode, process.ExitCode == 0 ? stdout.Result : stdout.Result + stderr.Result);
    }

    /// <summary>Sends SIGTERM to <paramref name="pid"/> with kill(1).</summary>
    public static void Terminate(int pid)
    {
        var (code, output) = Run("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, $"kill -TERM {pid} failed: {output}");
    }
}
