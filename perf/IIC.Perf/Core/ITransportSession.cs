namespace IIC.Perf.Core;

/// <summary>
/// The parent's side of one measurement over one transport: what it created for both ends (a memfd, a listening
/// socket, pipes, network namespaces...) and how the children join. Disposing it releases all of that.
/// </summary>
internal interface ITransportSession : IDisposable
{
    /// <summary>How to start the server (echo or receiver) child and what it needs to join.</summary>
    ChildLaunch Server { get; }

    /// <summary>
    /// Null when the client runs in this (parent) process through <see cref="ConnectClient"/>. Otherwise the client
    /// cannot run here (tcp-veth: it lives in another network namespace) and runs as a second child, joined with
    /// <see cref="LinkRole.Client"/>, reporting its measurement back.
    /// </summary>
    ChildLaunch? RemoteClient { get; }

    /// <summary>Called once the children are started (e.g. to close this process's copies of their pipe ends).</summary>
    void ChildrenStarted();

    /// <summary>The client end in this process, once the server child is started. May wait for the child to connect, within the guard.</summary>
    IMessageEndpoint ConnectClient(RunGuard guard);
}
