using System.Net.Sockets;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>A socket session where the parent listens and the server child connects to it (uds, tcp).</summary>
internal sealed class ListenerSession(Socket listener, ChildLaunch server, int messageSize, string? socketFile) : ITransportSession
{
    public ChildLaunch Server => server;

    public ChildLaunch? RemoteClient => null;

    public void ChildrenStarted()
    {
    }

    public IMessageEndpoint ConnectClient(RunGuard guard) => new SocketEndpoint(SocketLink.Accept(listener, guard), messageSize, guard);

    public void Dispose()
    {
        listener.Dispose();
        if (socketFile is not null)
        {
            File.Delete(socketFile);
        }
    }
}
