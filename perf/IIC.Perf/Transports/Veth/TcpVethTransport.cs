using System.Globalization;
using System.Net;
using System.Net.Sockets;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Transports.Streams;

namespace IIC.Perf.Transports.Veth;

/// <summary>
/// TCP across a virtual ethernet pair between two network namespaces: the path the source idea replaces
/// ("inter-partition communication over a virtual ethernet bridge"). The server child runs under
/// <c>ip netns exec</c> in one namespace, and the client, which cannot live in this process's namespace, runs as a
/// second child in the other and reports its measurement back.
/// </summary>
internal sealed class TcpVethTransport : IBenchTransport, IDisposable
{
    private const int FirstPort = 40000;
    private readonly Lock _lock = new();
    private NetworkNamespacePair? _pair;
    private IDisposable? _cleanup;
    private string? _failure;
    private string _ip = "ip";
    private int _sessions;

    public string Name => "tcp-veth";

    public string Description => "TCP (TCP_NODELAY) over a veth pair between two network namespaces the tool creates (needs root and iproute2)";

    public IReadOnlyList<string> Modes { get; } = [WaitModes.Block];

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Receive];

    public string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces are a Linux feature";
        }
        if (!Environment.IsPrivilegedProcess)
        {
            return $"needs root to create network namespaces (ip netns add); this runs as user '{Environment.UserName}'";
        }
        if (IpCommand.Locate() is not { } ip)
        {
            return "needs iproute2: no `ip` command on PATH or in /usr/sbin, /sbin";
        }
        lock (_lock)
        {
            if (_pair is null && _failure is null)
            {
                try
                {
                    _pair = NetworkNamespacePair.Create(ip);
                    _ip = ip;
                    _cleanup = CleanupRegistry.Register(_pair);
                }
                catch (InvalidOperationException e)
                {
                    _failure = "could not create the network namespaces: " + e.Message;
                }
            }
            return _failure;
        }
    }

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        if (Unavailable() is { } reason)
        {
            throw new InvalidOperationException(reason);
        }
        var port = (FirstPort + Interlocked.Increment(ref _sessions)).ToString(CultureInfo.InvariantCulture);
        var server = NetworkNamespacePair.ServerAddress.ToString();
        return new Session(
            new ChildLaunch([_ip, "netns", "exec", _pair!.ServerNamespace], [server, port]),
            new ChildLaunch([_ip, "netns", "exec", _pair.ClientNamespace], [server, port]));
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        var endPoint = new IPEndPoint(IPAddress.Parse(arguments[0]), int.Parse(arguments[1], CultureInfo.InvariantCulture));
        if (role == LinkRole.Client)
        {
            return new SocketEndpoint(SocketLink.Connect(endPoint, ProtocolType.Tcp, guard), options.MessageSize, guard);
        }
        using var listener = SocketLink.Listen(endPoint, ProtocolType.Tcp);
        return new SocketEndpoint(SocketLink.Accept(listener, guard), options.MessageSize, guard);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _pair?.Dispose();
            _cleanup?.Dispose();
            _pair = null;
        }
    }

    private sealed class Session(ChildLaunch server, ChildLaunch client) : ITransportSession
    {
        public ChildLaunch Server => server;

        public ChildLaunch? RemoteClient => client;

        public void ChildrenStarted()
        {
        }

        public IMessageEndpoint ConnectClient(RunGuard guard)
            => throw new InvalidOperationException("tcp-veth's client runs in the client namespace, as a child process.");

        public void Dispose()
        {
        }
    }
}
