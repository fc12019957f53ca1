namespace IIC.Native;

/// <summary>The calling process's identity (getpid, getuid, getgid and the effective ids), to compare with a peer's <see cref="PeerCredentials"/>.</summary>
public static class Credentials
{
    /// <summary>getpid(2).</summary>
    public static int ProcessId
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return Interop.Libc.GetPid();
        }
    }

    /// <summary>getuid(2): the real user id.</summary>
    internal static uint UserId
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return Interop.Libc.GetUid();
        }
    }

    /// <summary>getgid(2): the real group id.</summary>
    internal static uint GroupId
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return Interop.Libc.GetGid();
        }
    }

    /// <summary>geteuid(2): the effective user id (what SO_PEERCRED reports to a peer).</summary>
    public static uint EffectiveUserId
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return Interop.Libc.GetEuid();
        }
    }

    /// <summary>getegid(2): the effective group id (what SO_PEERCRED reports to a peer).</summary>
    internal static uint EffectiveGroupId
    {
        get
        {
            LinuxPlatform.EnsureSupported();
            return Interop.Libc.GetEgid();
        }
    }

    /// <summary>This process as a peer sees it over SO_PEERCRED: the pid and the effective user and group ids.</summary>
    public static PeerCredentials Current => new(ProcessId, EffectiveUserId, EffectiveGroupId);
}
