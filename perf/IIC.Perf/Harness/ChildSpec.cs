using IIC.Perf.Core;

namespace IIC.Perf.Harness;

/// <summary>Everything a child process needs, passed as one JSON argument: <c>IIC.Perf __child {json}</c>.</summary>
/// <param name="Role">Server (echo or receiver) or client (the measuring side, for transports whose client cannot run in the parent).</param>
/// <param name="Transport">The transport's name.</param>
/// <param name="Link">What both ends agreed on.</param>
/// <param name="Driver">How a client child measures.</param>
/// <param name="TimeoutS">The child's own bound on all its waits.</param>
/// <param name="Cpu">The CPU to pin the child's main thread to, or -1.</param>
/// <param name="Arguments">The transport's own arguments (<see cref="ChildLaunch.Arguments"/>).</param>
internal sealed record ChildSpec(LinkRole Role, string Transport, LinkOptions Link, DriverSettings Driver, double TimeoutS, int Cpu, IReadOnlyList<string> Arguments);
