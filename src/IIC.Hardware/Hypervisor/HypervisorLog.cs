using Microsoft.Extensions.Logging;

namespace IIC.Hardware;

/// <summary>The hypervisor's log messages (source-generated; HypervisorOptions.Logger).</summary>
internal static partial class HypervisorLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Hypervisor '{Name}' listening on {Path}")]
    public static partial void Started(ILogger logger, string name, string path);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Attached partition '{Partition}' (pid {Pid}, uid {Uid})")]
    public static partial void Attached(ILogger logger, string partition, int pid, uint uid);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Partition '{Partition}' (pid {Pid}) detached: {Reason}")]
    public static partial void Detached(ILogger logger, string partition, int pid, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "Granted connection {ConnectionId} to '{Service}': pid {ConnectorPid} -> pid {ListenerPid}, {WindowBytes} window bytes")]
    public static partial void Granted(ILogger logger, long connectionId, string service, int connectorPid, int listenerPid, long windowBytes);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Refused {Request} from pid {Pid} ({Error}): {Reason}")]
    public static partial void Refused(ILogger logger, string request, int pid, ControlError error, string reason);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Quota reached for pid {Pid}: {Reason}")]
    public static partial void QuotaHit(ILogger logger, int pid, string reason);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Partition '{Partition}' (pid {Pid}) died; its peers on {Grants} connections were told")]
    public static partial void Died(ILogger logger, string partition, int pid, int grants);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "Out of {Resource}: {Detail}")]
    public static partial void Exhausted(ILogger logger, string resource, string detail);
}
