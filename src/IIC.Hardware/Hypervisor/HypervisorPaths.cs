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
    /// <param name="name">The hypervisor name (see <see cref="ValidateHypervisorName"/>).</param>
    /// <param name="directory">The socket directory (default <see cref="DefaultDirectory"/>).</param>
    /// <param name="parameterName">The caller's public parameter that holds the name (for the exception).</param>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static string SocketPath(string name, string? directory = null, string parameterName = "name")
    {
        ValidateHypervisorName(name, parameterName);
        return Path.Combine(directory ?? DefaultDirectory, name + ".sock");
    }

    /// <summary>
    /// A hypervisor name is a file name in the socket directory: 1 to <see cref="ControlProtocol.MaxNameLength"/> ASCII
    /// letters, digits, '.', '_' or '-', not "." or "..". ('/' is refused: unlike service names, it would be a path.)
    /// </summary>
    /// <exception cref="ArgumentNullException">The name is null.</exception>
    /// <exception cref="ArgumentException">The name breaks the rule (the message states it).</exception>
    public static void ValidateHypervisorName(string name, string parameterName)
    {
        NameRules.ThrowIfNotHypervisorName(name, parameterName);
    }

    /// <summary>Creates the directory with mode 0700, or checks that an existing one is ours and 0700.</summary>
    /// <exception cref="UnauthorizedAccessException">It exists with a mode that lets others in, or is not a directory owned by this user.</exception>
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
        // lstat: a symbolic link planted in place of the directory is refused like any directory not ours.
        var status = FileStatus.Of(directory);
        const uint DirectoryType = 0x4000, TypeMask = 0xF000;
        if ((status.Mode & TypeMask) != DirectoryType || status.OwnerUid != Credentials.EffectiveUserId)
        {
            throw new UnauthorizedAccessException(string.Create(CultureInfo.InvariantCulture,
                $"The hypervisor directory '{directory}' is not a directory owned by uid {Credentials.EffectiveUserId} (owner uid {status.OwnerUid}, mode {Convert.ToString(status.Mode, 8)}); another user may have planted it. Remove it or choose another SocketDirectory."));
        }
        var mode = File.GetUnixFileMode(directory);
        if ((mode & ~Private) != 0)
        {
            throw new UnauthorizedAccessException($"The hypervisor directory '{directory}' has mode {Convert.ToString((int)mode, 8)}; it must be 0700 so other users cannot reach the socket. Fix it with: chmod 700 '{directory}'.");
        }
    }
}
