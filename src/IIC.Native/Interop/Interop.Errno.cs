internal static partial class Interop
{
    /// <summary>errno values used by name in IICFast (the same numbers on x64 and arm64 Linux).</summary>
    internal static class Errno
    {
        internal const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EBADF = 9, ECHILD = 10, EAGAIN = 11,
            ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, ENOTDIR = 20, EISDIR = 21,
            EINVAL = 22, ENFILE = 23, EMFILE = 24, EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30, EPIPE = 32,
            ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38, ENOTSOCK = 88, EMSGSIZE = 90, EPROTOTYPE = 91, ENOPROTOOPT = 92,
            EOPNOTSUPP = 95, EAFNOSUPPORT = 97, EADDRINUSE = 98, EADDRNOTAVAIL = 99, ECONNABORTED = 103, ECONNRESET = 104, ENOBUFS = 105,
            EISCONN = 106, ENOTCONN = 107, ETIMEDOUT = 110, ECONNREFUSED = 111, ENXIO = 6;

        private static readonly Dictionary<int, string> s_names = new()
        {
            [EPERM] = "EPERM", [ENOENT] = "ENOENT", [ESRCH] = "ESRCH", [EINTR] = "EINTR", [EIO] = "EIO",
            [EBADF] = "EBADF", [ECHILD] = "ECHILD", [EAGAIN] = "EAGAIN", [ENOMEM] = "ENOMEM", [EACCES] = "EACCES",
            [EFAULT] = "EFAULT", [EBUSY] = "EBUSY", [EEXIST] = "EEXIST", [ENODEV] = "ENODEV", [ENOTDIR] = "ENOTDIR",
            [EISDIR] = "EISDIR", [EINVAL] = "EINVAL", [ENFILE] = "ENFILE", [EMFILE] = "EMFILE", [EFBIG] = "EFBIG",
            [ENOSPC] = "ENOSPC", [ESPIPE] = "ESPIPE", [EROFS] = "EROFS", [EPIPE] = "EPIPE", [ERANGE] = "ERANGE",
            [ENAMETOOLONG] = "ENAMETOOLONG", [ENOSYS] = "ENOSYS", [ENOTSOCK] = "ENOTSOCK", [EMSGSIZE] = "EMSGSIZE",
            [EPROTOTYPE] = "EPROTOTYPE", [ENOPROTOOPT] = "ENOPROTOOPT", [EOPNOTSUPP] = "EOPNOTSUPP", [EAFNOSUPPORT] = "EAFNOSUPPORT",
            [EADDRINUSE] = "EADDRINUSE", [EADDRNOTAVAIL] = "EADDRNOTAVAIL", [ECONNABORTED] = "ECONNABORTED", [ECONNRESET] = "ECONNRESET",
            [ENOBUFS] = "ENOBUFS", [EISCONN] = "EISCONN", [ENOTCONN] = "ENOTCONN", [ETIMEDOUT] = "ETIMEDOUT",
            [ECONNREFUSED] = "ECONNREFUSED", [ENXIO] = "ENXIO",
        };

        internal static string Name(int errno) => s_names.TryGetValue(errno, out var name) ? name : "E" + errno.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
