using System.Diagnostics;
using System.Text;

namespace IIC.Tests;

/// <summary>Runs a program (id, useradd, kill, runuser, the iic CLI) to completion, bounded, and returns what it said.</summary>
public static class Programs
{
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="args"/> and returns its exit code and stdout (stderr appended
    /// on failure). Fails the test if it does not finish within <paramref name="timeout"/> (default 30 s).
    /// </summary>
    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var limit = timeout ?? s_defaultTimeout;
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
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish within {limit.TotalSeconds} s.");
        }
        Assert.True(Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(5)), "the output of a finished process was not read");
        return (process.ExitCode, process.ExitCode == 0 ? stdout.Result : stdout.Result + stderr.Result);
    }
}
