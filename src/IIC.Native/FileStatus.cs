namespace IIC.Native;

/// <summary>What fstat reports about a descriptor.</summary>
/// <param name="Size">Size in bytes.</param>
/// <param name="Mode">File type and permission bits (st_mode).</param>
/// <param name="OwnerUid">Owner user id.</param>
/// <param name="OwnerGid">Owner group id.</param>
public readonly record struct FileStatus(long Size, uint Mode, uint OwnerUid, uint OwnerGid);
