namespace IIC.Perf.Core;

/// <summary>How to start one child process of a session.</summary>
/// <param name="Prefix">A command that runs the child, such as <c>ip netns exec NAME</c>; empty to start it directly.</param>
/// <param name="Arguments">Transport-specific arguments the child's <see cref="IBenchTransport.Join"/> gets (an fd number, a port...).</param>
internal sealed record ChildLaunch(IReadOnlyList<string> Prefix, IReadOnlyList<string> Arguments)
{
    /// <summary>A child started directly with these arguments.</summary>
    public static ChildLaunch Direct(params string[] arguments) => new([], arguments);

    /// <summary>
    /// A child started directly that inherits descriptors this process opened for it (a memfd, pipe ends), named by
    /// number in <paramref name="arguments"/>: it must be a new process, never a reused one (Harness/ChildPool.cs).
    /// </summary>
    public static ChildLaunch Inheriting(params string[] arguments) => new([], arguments) { InheritsDescriptors = true };

    /// <summary>True when the child needs descriptors inherited at its start (see <see cref="Inheriting"/>).</summary>
    public bool InheritsDescriptors { get; init; }
}
