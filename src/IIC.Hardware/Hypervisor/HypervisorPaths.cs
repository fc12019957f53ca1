using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>Where a hypervisor's socket lives: <c>$XDG_RUNTIME_DIR/iic/NAME.sock</c>, else <c>/tmp/iic-UID/NAME.sock</c>, in a 0700 directory.</summary>
public static class HypervisorPaths
{
    /// <summary>The default socket directory for this user.</summary>
    public static string DefaultDirectory
    {
        get
        {
            var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            return !string.IsNullOrEmpty(runtime) && Directory.Exists(runtime)
                ? Path.Combine(runtime, "iic")
                : string.Create(CultureInfo.InvariantCulture, $"/tmp/iic-{Credentials.EffectiveUserId}");
        }
    }

    /// <summary>The socket path of hypervisor <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static string SocketPath(string name, string? directory = null)
    {
        ControlProtocol.ValidateName(name, nameof(name));
        if (name.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A hypervisor name cannot contain '/': '{name}'.", nameof(name));
        }
        return Path.Combine(directory ?? DefaultDirectory, name + ".sock");
    }

    /// <summary>Creates the directory with mode 0700, or checks that an existing one is ours and 0700.</summary>
    /// <exception cref="UnauthorizedAccessException">It exists with a mode that lets others in (a directory of another user makes bind fail with EACCES).</exception>
    public static void EnsurePrivateDirectory(string directory)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (!OperatingSystem.IsLinux())
        {
            LinuxPlatform.EnsureSupported();
            return;
        }
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, Private);
        }
        var mode = File.GetUnixFileMode(directory);
        if ((mode & ~Private) != 0)
        {
            throw new UnauthorizedAccessException($"The hypervisor directory '{directory}' has mode {Convert.ToString((int)mode, 8)}; it must be 0700 so other users cannot reach the socket. Fix it with: chmod 700 '{directory}'.");
        }
    }
}
