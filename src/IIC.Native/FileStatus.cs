namespace IIC.Native;

/// <summary>What fstat (or stat of a path) reports.</summary>
/// <param name="Size">Size in bytes.</param>
/// <param name="Mode">File type and permission bits (st_mode).</param>
/// <param name="OwnerUid">Owner user id.</param>
/// <param name="OwnerGid">Owner group id.</param>
public readonly record struct FileStatus(long Size, uint Mode, uint OwnerUid, uint OwnerGid)
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;

    /// <summary>stat of <paramref name="path"/> without following a final symbolic link (lstat semantics).</summary>
    /// <exception cref="NativeException">The call failed (ENOENT, EACCES...).</exception>
    public static unsafe FileStatus Of(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        LinuxPlatform.EnsureSupported();
        Interop.Libc.StatX status;
        if (Interop.Libc.Statx(AtFdCwd, path, AtSymlinkNoFollow, Interop.Libc.STATX_BASIC_STATS, &status) == -1)
        {
            throw NativeException.FromLastError($"stat(\"{path}\")");
        }
        return new FileStatus((long)status.stx_size, status.stx_mode, status.stx_uid, status.stx_gid);
    }
}
