using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore;

/// <summary>
/// IIC.AspNetCore's log messages (category <c>IIC.AspNetCore</c>), source-generated: no formatting or allocation unless
/// the level is enabled. Event ids 1-99 are this package's.
/// </summary>
internal static partial class IicLog
{
    /// <summary>The logger category.</summary>
    public const string Category = "IIC.AspNetCore";

    [LoggerMessage(1, LogLevel.Information, "Started the embedded IICFast hypervisor '{Hypervisor}' (socket directory {SocketDirectory}).")]
    public static partial void HypervisorStarted(ILogger logger, string hypervisor, string socketDirectory);

    [LoggerMessage(2, LogLevel.Information, "Partition '{Partition}' attached to hypervisor '{Hypervisor}'.")]
    public static partial void PartitionAttached(ILogger logger, string partition, string hypervisor);

    [LoggerMessage(3, LogLevel.Warning, "Partition '{Partition}' lost hypervisor '{Hypervisor}'; attaching again.")]
    public static partial void PartitionReattaching(ILogger logger, string partition, string hypervisor);

    [LoggerMessage(4, LogLevel.Error, "Partition '{Partition}' could not attach to hypervisor '{Hypervisor}'.")]
    public static partial void AttachFailed(ILogger logger, Exception exception, string partition, string hypervisor);

    [LoggerMessage(5, LogLevel.Information, "Offering {Address} through hypervisor '{Hypervisor}'.")]
    public static partial void ServiceOffered(ILogger logger, string address, string hypervisor);

    [LoggerMessage(6, LogLevel.Information, "Stopped offering {Address}.")]
    public static partial void ServiceUnbound(ILogger logger, string address);

    [LoggerMessage(7, LogLevel.Debug, "Connection {ConnectionId} accepted on {Address}.")]
    public static partial void ConnectionAccepted(ILogger logger, string connectionId, string address);

    [LoggerMessage(8, LogLevel.Debug, "Connection {ConnectionId} on {Address} was reset: {Reason}")]
    public static partial void ConnectionReset(ILogger logger, string connectionId, string address, string reason);

    [LoggerMessage(9, LogLevel.Warning, "Accepting on {Address} failed; Kestrel stops accepting on it.")]
    public static partial void AcceptFailed(ILogger logger, Exception exception, string address);

    [LoggerMessage(10, LogLevel.Error, "Connection {ConnectionId} on {Address} failed to send and was closed: an error that is not the connection's end (a bug, or a misuse such as another thread sending on the channel).")]
    public static partial void SendFailed(ILogger logger, Exception exception, string connectionId, string address);

    [LoggerMessage(11, LogLevel.Error, "Connection {ConnectionId} on {Address} failed to receive and was reset: an error that is not the connection's end (a bug, or a misuse such as another thread receiving on the channel).")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string connectionId, string address);
}
