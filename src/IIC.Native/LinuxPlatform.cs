using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>Where IICFast runs: Linux on x64 or arm64 (memfd, futex and pidfd are Linux kernel features).</summary>
public static class LinuxPlatform
{
    /// <summary>True on Linux x64 and Linux arm64.</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>Throws <see cref="PlatformNotSupportedException"/> with what is supported, unless <see cref="IsSupported"/>.</summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux on x64 or arm64.</exception>
    public static void EnsureSupported()
    {
        if (!IsSupported)
        {
            Throw();
        }

        static void Throw() => throw new PlatformNotSupportedException(
            $"IICFast needs Linux on x64 or arm64 (memfd, futex, pidfd and SCM_RIGHTS are Linux kernel features); this is {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}.");
    }
}
