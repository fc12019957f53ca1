using Microsoft.Extensions.Logging;

namespace IIC.Grpc.Server;

/// <summary>The native gRPC server's log messages (source-generated).</summary>
internal sealed partial class ServerLog(ILogger logger)
{
    [LoggerMessage(1, LogLevel.Information, "Serving gRPC natively over IICFast as service '{Service}' ({MethodCount} methods).")]
    public partial void Listening(string service, int methodCount);

    [LoggerMessage(2, LogLevel.Debug, "A client connected to '{Service}'.")]
    public partial void Connected(string service);

    [LoggerMessage(3, LogLevel.Debug, "A client connection to '{Service}' ended: {Reason}")]
    public partial void Disconnected(string service, string reason);

    [LoggerMessage(4, LogLevel.Warning, "A client connection to '{Service}' broke the call protocol and was closed.")]
    public partial void ProtocolError(Exception exception, string service);

    [LoggerMessage(5, LogLevel.Error, "The handler of {Method} threw.")]
    public partial void HandlerFailed(Exception exception, string method);

    [LoggerMessage(6, LogLevel.Error, "Accepting connections to '{Service}' failed; the native gRPC server stops accepting.")]
    public partial void AcceptFailed(Exception exception, string service);

    [LoggerMessage(7, LogLevel.Error, "A callback registered on the cancellation token of a call to {Method} threw; the call was cancelled all the same.")]
    public partial void CancellationCallbackFailed(Exception exception, string method);

    [LoggerMessage(8, LogLevel.Warning, "Connection {ConnectionId} to '{Service}' closed: the client read nothing of the responses for more than {StallSeconds} s (IicGrpcServerOptions.ResponseStallTimeout).")]
    public partial void ResponseStalled(long connectionId, string service, double stallSeconds);

    [LoggerMessage(20, LogLevel.Information, "Stopping '{Service}' gracefully: {ConnectionCount} client connections told to start no more calls (GoAway); their calls in flight may finish.")]
    public partial void Draining(string service, int connectionCount);

    [LoggerMessage(21, LogLevel.Warning, "Stopped '{Service}' with {ConnectionCount} client connections still open when the stop's time ran out (the host's ShutdownTimeout): their calls were cancelled.")]
    public partial void DrainCutShort(string service, int connectionCount);

    private readonly ILogger _logger = logger;
}
