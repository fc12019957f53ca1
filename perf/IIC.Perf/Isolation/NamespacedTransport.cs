using IIC.Perf.Core;

namespace IIC.Perf.Isolation;

/// <summary>
/// A transport whose two ends already run as child processes (tcp-veth: one in each network namespace of the
/// veth pair), with each child moved into fresh user, pid, mount and IPC namespaces of its own as well, named
/// <c>NAME-ns</c>. Shares the inner transport's run-wide resources (the veth pair), so register the same instance.
/// </summary>
internal sealed class NamespacedTransport(IBenchTransport inner) : IIsolatedTransport
{
    public string Name => inner.Name + "-ns";

    public string Description => inner.Description + "; every process in its own user, pid, network, mount and IPC namespaces";

    public string Isolation => IsolationKind.Namespaces;

    public IReadOnlyList<string> Modes => inner.Modes;

    public IReadOnlyList<ReceiveApi> ReceiveApis => inner.ReceiveApis;

    public string? Unavailable() => NamespaceLauncher.Unavailable() ?? inner.Unavailable();

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        var session = inner.Open(options, guard);
        if (session.RemoteClient is null)
        {
            session.Dispose();
            throw new InvalidOperationException($"{inner.Name}'s client runs in the measuring process, which cannot be isolated; only transports with two child ends can be namespaced this way.");
        }
        return new Session(session);
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
        => inner.Join(role, options, arguments, guard);

    private sealed class Session(ITransportSession inner) : ITransportSession
    {
        public ChildLaunch Server { get; } = NamespaceLauncher.Wrap(inner.Server, sharedDirectory: null);

        public ChildLaunch? RemoteClient { get; } = NamespaceLauncher.Wrap(inner.RemoteClient!, sharedDirectory: null);

        public void ChildrenStarted() => inner.ChildrenStarted();

        public IMessageEndpoint ConnectClient(RunGuard guard) => throw new InvalidOperationException("The client runs as a namespaced child.");

        public void Dispose() => inner.Dispose();
    }
}
