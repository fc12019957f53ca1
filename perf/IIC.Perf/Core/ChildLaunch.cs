using System.Globalization;

namespace IIC.Perf.Core;

/// <summary>How to start one child process of a session.</summary>
/// <param name="Prefix">A command that runs the child, such as <c>ip netns exec NAME</c>; empty to start it directly.</param>
/// <param name="Arguments">Transport-specific arguments the child's <see cref="IBenchTransport.Join"/> gets (an fd number, a port...).</param>
internal sealed record ChildLaunch(IReadOnlyList<string> Prefix, IReadOnlyList<string> Arguments)
{
    /// <summary>The start of an argument that names a descriptor of the parent by path (see <see cref="ReopenedFrom"/>).</summary>
    public const string ProcPrefix = "/proc/";

    /// <summary>A child started directly with these arguments.</summary>
    public static ChildLaunch Direct(params string[] arguments) => new([], arguments);

    /// <summary>
    /// A child started directly that inherits descriptors this process opened for it (a memfd, pipe ends), named by
    /// number in <paramref name="arguments"/> (every argument is a descriptor number). A fresh child inherits them;
    /// a reused child (Harness/ChildPool.cs) opens the same files as <c>/proc/PARENT/fd/N</c> instead (see
    /// <see cref="ReopenedFrom"/>), which <see cref="IBenchTransport.Join"/> must accept too (<see cref="OpenDescriptor"/>).
    /// </summary>
    public static ChildLaunch Inheriting(params string[] arguments) => new([], arguments) { InheritsDescriptors = true };

    /// <summary>True when the child needs this process's descriptors (see <see cref="Inheriting"/>).</summary>
    public bool InheritsDescriptors { get; init; }

    /// <summary>
    /// The arguments for a child that is already running: each descriptor number N becomes <c>/proc/PID/fd/N</c>,
    /// which the child opens itself. Opening that link opens the same file (the memfd, the pipe) anew; it needs only
    /// the read access to this process that a child of the same user has (PTRACE_MODE_READ, which Yama's ptrace
    /// scope does not restrict, unlike pidfd_getfd's PTRACE_MODE_ATTACH). This process must keep the descriptors
    /// open until the child says it has joined (Harness/ChildProcess.WaitJoined).
    /// </summary>
    public IReadOnlyList<string> ReopenedFrom(int pid) =>
        [.. Arguments.Select(a => string.Create(CultureInfo.InvariantCulture, $"{ProcPrefix}{pid}/fd/{int.Parse(a, CultureInfo.InvariantCulture)}"))];

    /// <summary>
    /// In the child: the descriptor an argument of an <see cref="Inheriting"/> launch names: the inherited number
    /// itself, or (a reused child) the parent's descriptor opened anew through its <c>/proc</c> path. The caller owns
    /// the result and closes it.
    /// </summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle OpenDescriptor(string argument, FileAccess access)
    {
        ArgumentNullException.ThrowIfNull(argument);
        return argument.StartsWith(ProcPrefix, StringComparison.Ordinal)
            ? File.OpenHandle(argument, FileMode.Open, access, FileShare.ReadWrite)
            : new Microsoft.Win32.SafeHandles.SafeFileHandle(int.Parse(argument, CultureInfo.InvariantCulture), ownsHandle: true);
    }
}
