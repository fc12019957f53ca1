using System.Globalization;
using System.Net.Sockets;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>Unix domain stream sockets: the parent listens on a socket file in the temp directory, the child connects.</summary>
internal sealed class UdsTransport : IBenchTransport
{
    private int _sessions;

    public string Name => "uds";

    public string Description => "Unix domain stream sockets";

    public IReadOnlyList<string> Modes { get; } = [WaitModes.Block];

    public IReadOnlyList<ReceiveApi> ReceiveApis { get; } = [ReceiveApi.Receive];

    public string? Unavailable() => Socket.OSSupportsUnixDomainSockets ? null : "Unix domain sockets are not supported here";

    public ITransportSession Open(LinkOptions options, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        var path = Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"iicperf-{Environment.ProcessId}-{++_sessions}.sock"));
        File.Delete(path);
        var listener = SocketLink.Listen(new UnixDomainSocketEndPoint(path), ProtocolType.Unspecified);
        return new ListenerSession(listener, ChildLaunch.Direct(path), options.MessageSize, path);
    }

    public IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(arguments);
        var socket = SocketLink.Connect(new UnixDomainSocketEndPoint(arguments[0]), ProtocolType.Unspecified, guard);
        return new SocketEndpoint(socket, options.MessageSize, guard);
    }
}
