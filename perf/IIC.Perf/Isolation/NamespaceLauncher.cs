using System.Diagnostics;
using IIC.Perf.Core;

namespace IIC.Perf.Isolation;

/// <summary>
/// Starts a child in fresh namespaces, the way a container runtime would, with util-linux <c>unshare</c>: a user
/// namespace whose root is this (root) user, and new pid, mount and IPC namespaces, plus a network namespace unless
/// the launch already enters one (tcp-veth's <c>ip netns exec</c>). The child is pid 1 of its pid namespace
/// (<c>--fork</c>) and dies with unshare (<c>--kill-child</c>). It gets fresh tmpfs over /tmp and /dev/shm: the
/// only thing of the host it can reach besides the binaries it runs is the directory it is told to share (the
/// hypervisor's socket directory), bind-mounted back at the same path. The kernel removes all of it when the
/// child exits; nothing is left to clean up.
/// </summary>
internal static class NamespaceLauncher
{
    // $1: the shared directory or "-"; $2: the program's own folder. Their bind mounts are staged on the new
    // /dev/shm because the new /tmp hides their paths; mount --move puts them back where the host has them. The
    // program's folder is put back only when it lies under /tmp (a checkout there): the child must find its binaries.
    private const string PrivateRootScript = """
        set -e
        mount -t tmpfs -o mode=1777 iic-private-shm /dev/shm
        if [ "$1" != - ]; then mkdir /dev/shm/.shared; mount --bind "$1" /dev/shm/.shared; fi
        case "$2" in /tmp/*) mkdir /dev/shm/.program; mount --bind "$2" /dev/shm/.program;; esac
        mount -t tmpfs -o mode=1777 iic-private-tmp /tmp
        if [ "$1" != - ]; then mkdir -p "$1"; mount --move /dev/shm/.shared "$1"; rmdir /dev/shm/.shared; fi
        case "$2" in /tmp/*) mkdir -p "$2"; mount --move /dev/shm/.program "$2"; rmdir /dev/shm/.program;; esac
        shift 2
        exec "$@"
        """;

    private static readonly Lazy<string?> s_unavailable = new(Probe);

    /// <summary>Null when namespaces can be made here; otherwise why not.</summary>
    public static string? Unavailable() => s_unavailable.Value;

    /// <summary>
    /// <paramref name="launch"/> run inside fresh namespaces; <paramref name="sharedDirectory"/> (or null) is the
    /// one host directory it keeps.
    /// </summary>
    public static ChildLaunch Wrap(ChildLaunch launch, string? sharedDirectory)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var enterNetwork = launch.Prefix.Count == 0; // a prefix (ip netns exec) has chosen the network namespace already
        var unshare = new List<string> { "unshare", "--map-root-user", "--pid", "--mount", "--ipc", "--fork", "--kill-child" };
        if (enterNetwork)
        {
            unshare.Insert(2, "--net");
        }
        unshare.AddRange(["--", "/bin/sh", "-c", PrivateRootScript, "sh", sharedDirectory ?? "-", Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)]);
        return new ChildLaunch([.. launch.Prefix, .. unshare], launch.Arguments);
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "namespaces are a Linux feature";
        }
        try
        {
            var start = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var argument in Wrap(new ChildLaunch([], []), Path.GetTempPath()).Prefix.Skip(1).Append("true"))
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(30_000))
            {
                process.Kill();
                return "unshare did not finish within 30 s";
            }
            return process.ExitCode == 0 ? null : $"the kernel refused the namespaces (unshare exited {process.ExitCode}: {error.Trim()})";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"needs util-linux unshare: {e.Message}";
        }
    }
}
