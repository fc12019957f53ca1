using System.Globalization;

namespace IIC.Native;

/// <summary>
/// How user ids read across user namespaces. The kernel reports a peer's uid and gid (SO_PEERCRED) as this
/// process's user namespace maps them: a mapped id reads as its value here, whatever the peer calls itself in
/// its own namespace; an id with no mapping here reads as the overflow id (<see cref="OverflowUid"/>, 65534 by
/// default, /proc/sys/kernel/overflowuid). The overflow id therefore names no one in particular: every
/// unmapped user in every other namespace reads as it, so policy must never admit it by accident.
/// </summary>
internal static class UserNamespace
{
    private static readonly Lazy<uint> s_overflowUid = new(() => ReadId("/proc/sys/kernel/overflowuid"));
    private static readonly Lazy<uint> s_overflowGid = new(() => ReadId("/proc/sys/kernel/overflowgid"));

    /// <summary>The uid an unmapped user reads as (/proc/sys/kernel/overflowuid; 65534 when it cannot be read).</summary>
    public static uint OverflowUid => s_overflowUid.Value;

    /// <summary>The gid an unmapped group reads as (/proc/sys/kernel/overflowgid; 65534 when it cannot be read).</summary>
    public static uint OverflowGid => s_overflowGid.Value;

    /// <summary>
    /// Whether a peer with <paramref name="peerUid"/> is the user <paramref name="ownUid"/> names: equal ids,
    /// and not the overflow id (two unmapped users both read as it, so it proves nothing).
    /// </summary>
    public static bool IsSameUser(uint peerUid, uint ownUid) => peerUid == ownUid && peerUid != OverflowUid;

    private static uint ReadId(string path)
    {
        const uint Default = 65534;
        try
        {
            return uint.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : Default;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Default; // /proc not mounted (a minimal container): the kernel's default
        }
    }
}
