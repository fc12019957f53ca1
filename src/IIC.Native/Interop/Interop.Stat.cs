using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        internal const int AT_EMPTY_PATH = 0x1000;
        internal const uint STATX_BASIC_STATS = 0x7ff;

        /// <summary>struct statx: the same layout on every architecture, unlike struct stat (so fstat is done as statx(fd, "", AT_EMPTY_PATH)).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct StatX
        {
            public uint stx_mask;
            public uint stx_blksize;
            public ulong stx_attributes;
            public uint stx_nlink;
            public uint stx_uid;
            public uint stx_gid;
            public ushort stx_mode;
            public ushort spare0;
            public ulong stx_ino;
            public ulong stx_size;
            public ulong stx_blocks;
            public ulong stx_attributes_mask;
            public fixed byte timestamps[64]; // atime, btime, ctime, mtime: 16 bytes each
            public fixed byte rest[128];      // rdev/dev, mnt_id, dio alignment and spare words up to sizeof(struct statx) == 256
        }

        [LibraryImport(Libraries.Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, StatX* result);
    }
}
