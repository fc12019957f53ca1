using System.Globalization;
using System.Net;
using System.Net.Sockets;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>TCP over loopback with TCP_NODELAY: the parent listens on 127.0.0.1 (an ephemeral port), the child connects.</summary>
internal sealed class TcpTransport : IBenchTransport
{
    public string Name => "tcp";

    public string Description => "TCP over loopback (127.0.0.1), TCP_NODELAY";

    public IReadOnlyList<string> Modes { get; } = [WaitModes.Block];

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Receive];

    public string? Unavailable() => null;

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        var listener = SocketLink.Listen(new IPEndPoint(IPAddress.Loopback, 0), ProtocolType.Tcp);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return new ListenerSession(listener, ChildLaunch.Direct(port.ToString(CultureInfo.InvariantCulture)), options.MessageSize, socketFile: null);
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        var port = int.Parse(arguments[0], CultureInfo.InvariantCulture);
        var socket = SocketLink.Connect(new IPEndPoint(IPAddress.Loopback, port), ProtocolType.Tcp, guard);
        return new SocketEndpoint(socket, options.MessageSize, guard);
    }
}
