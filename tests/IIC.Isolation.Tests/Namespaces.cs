using System.Diagnostics;

namespace IIC.Isolation.Tests;

/// <summary>How a child's namespaces are made (util-linux <c>unshare</c>; every child gets new pid, network, mount and IPC namespaces).</summary>
public enum UserMapping
{
    /// <summary><c>--map-root-user</c>: root inside is this (root) user outside; the child also gets a private /tmp and /dev/shm.</summary>
    Root,

    /// <summary><c>--map-user=4242</c>: the child calls itself uid 4242 (<see cref="Namespaces.ClaimedUid"/>); the kernel (and the hypervisor) still see this user.</summary>
    ClaimsOtherUid,

    /// <summary>No mapping written: the child's own uid, and everyone else's, read as the overflow uid inside.</summary>
    None,
}

/// <summary>Whether this kernel lets us create the namespaces the tests need (asked once, by trying).</summary>
public static class Namespaces
{
    /// <summary>The uid a <see cref="UserMapping.ClaimsOtherUid"/> child calls itself.</summary>
    public const uint ClaimedUid = 4242;

    private static readonly Lazy<string?> s_refusal = new(Probe);

    /// <summary>Null when namespaces can be created; else why not (for the skip message).</summary>
    public static string? Refusal => s_refusal.Value;

    /// <summary>
    /// True when the test can run; otherwise writes a clear skip line to <paramref name="output"/> and returns false
    /// (xunit 2 has no dynamic skip: the test returns early and its output says why).
    /// </summary>
    public static bool Available(ITestOutputHelper output)
    {
        if (Refusal is null)
        {
            return true;
        }
        output.WriteLine($"SKIPPED: this kernel refuses to create user/pid/net/mount/ipc namespaces ({Refusal}); run as root or enable unprivileged user namespaces.");
        return false;
    }

    private static string? Probe()
    {
        try
        {
            var info = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var arg in new[] { "--user", "--map-root-user", "--pid", "--net", "--mount", "--ipc", "--fork", "--", "true" })
            {
                info.ArgumentList.Add(arg);
            }
            using var process = Process.Start(info)!;
            var error = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(30_000))
            {
                process.Kill();
                return "unshare did not finish within 30 s";
            }
            return process.ExitCode == 0 ? null : $"unshare exited {process.ExitCode}: {error.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"unshare (util-linux) cannot be run: {e.Message}";
        }
    }
}
