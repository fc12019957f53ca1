using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// A Linux call failed. The message names the call, its significant argument, the errno name and number,
/// and the system's description, e.g. <c>memfd_create("iic-window") failed: EMFILE (24): Too many open files</c>.
/// </summary>
public sealed class NativeException : IOException
{
    /// <summary>Creates the exception for <paramref name="call"/> failing with <paramref name="errno"/>.</summary>
    /// <param name="call">The call with its significant argument, e.g. <c>memfd_create("iic-window")</c>.</param>
    /// <param name="errno">The error number the call reported.</param>
    public NativeException(string call, int errno)
        : base(string.Create(CultureInfo.InvariantCulture, $"{call} failed: {Interop.Errno.Name(errno)} ({errno}): {Marshal.GetPInvokeErrorMessage(errno)}"))
    {
        Call = call;
        Errno = errno;
        HResult = errno;
    }

    /// <summary>The call that failed, with its significant argument.</summary>
    public string Call { get; }

    /// <summary>The Linux error number.</summary>
    public int Errno { get; }

    /// <summary>The symbolic name of <see cref="Errno"/>, such as <c>EBADF</c>.</summary>
    public string ErrnoName => Interop.Errno.Name(Errno);

    /// <summary>Creates the exception from the errno of the last P/Invoke on this thread.</summary>
    internal static NativeException FromLastError(string call) => new(call, Marshal.GetLastPInvokeError());

    /// <summary>Throws for the last P/Invoke's errno when <paramref name="result"/> is -1; returns it otherwise.</summary>
    internal static int ThrowIfFailed(int result, string call) => result == -1 ? throw FromLastError(call) : result;

    /// <summary>Throws for the last P/Invoke's errno when <paramref name="result"/> is -1; returns it otherwise.</summary>
    internal static long ThrowIfFailed(long result, string call) => result == -1 ? throw FromLastError(call) : result;
}
