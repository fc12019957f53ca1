using System.Diagnostics;

namespace IIC.Perf.Transports.Veth;

/// <summary>Runs iproute2's <c>ip</c>, bounded in time, and says what went wrong in its own words.</summary>
internal static class IpCommand
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);

    /// <summary>The full path of <c>ip</c> (PATH, then the sbin directories a non-login shell may lack), or null.</summary>
    public static string? Locate()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        var directories = path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return directories.Select(directory => Path.Combine(directory, "ip")).FirstOrDefault(File.Exists);
    }

    /// <summary>Runs <c>ip ARGS</c>; throws with ip's message when it fails.</summary>
    /// <exception cref="InvalidOperationException">ip failed or did not finish in time.</exception>
    public static string Run(string ip, params string[] arguments)
    {
        var (exitCode, output) = TryRun(ip, arguments);
        return exitCode == 0
            ? output
            : throw new InvalidOperationException($"`ip {string.Join(' ', arguments)}` failed (exit {exitCode}): {output.Trim()}");
    }

    /// <summary>Runs <c>ip ARGS</c> and returns its exit code and combined output.</summary>
    public static (int ExitCode, string Output) TryRun(string ip, params string[] arguments)
    {
        var start = new ProcessStartInfo(ip)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {ip}.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(s_timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {s_timeout.TotalSeconds} s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
