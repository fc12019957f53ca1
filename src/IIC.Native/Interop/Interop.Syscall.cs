using System.Runtime.InteropServices;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>syscall(2) for calls glibc does not wrap (futex, futex_waitv, pidfd_open). glibc's syscall
        /// is a register shuffle, so passing every argument as a 64-bit integer is exact on x64 and arm64.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
        internal static partial long Syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

        internal static long SysFutex => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 98 : 202;
        internal const long SysFutexWaitV = 449;
        internal const long SysPidfdOpen = 434;
    }
}
