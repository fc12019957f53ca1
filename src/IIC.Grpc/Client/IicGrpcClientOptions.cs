using IIC.AspNetCore;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Grpc.Client;

/// <summary>How an <see cref="IicCallInvoker"/> reaches its service and what it accepts.</summary>
public sealed class IicGrpcClientOptions
{
    /// <summary>The default largest message received: 4 MiB, as grpc-dotnet.</summary>
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>Where the hypervisor is and this process's partition (the same options IIC.AspNetCore reads from <c>Iic</c>).</summary>
    public IicTransportOptions Transport { get; set; } = new();

    /// <summary>
    /// The channel options of each connection. Default: 1 MiB rings and <see cref="WaitStrategy.Adaptive"/> waiting,
    /// which suits the native path: each connection's receiver is its own dedicated thread, so spinning through
    /// traffic takes no thread-pool thread.
    /// </summary>
    public ChannelOptions ChannelOptions { get; set; } = ChannelOptions.Default;

    /// <summary>How many channels calls are spread over (default 1; each has its own reader thread).</summary>
    public int ConnectionCount { get; set; } = 1;

    /// <summary>The largest message this client sends; null means no limit (as grpc-dotnet).</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>The largest message this client receives (default 4 MiB); null means no limit. Larger ones end the call with <c>ResourceExhausted</c>.</summary>
    public int? MaxReceiveMessageSize { get; set; } = DefaultMaxReceiveMessageSize;

    /// <summary>
    /// Complete a call's awaited response on the connection's reader thread instead of handing the continuation to
    /// the thread pool. Lower latency (no pool hop); code after the await then runs on the reader thread until it
    /// awaits something that is not complete, and delays the connection's other calls meanwhile. Default false.
    /// </summary>
    public bool InlineCompletions { get; set; }

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Transport);
        ArgumentNullException.ThrowIfNull(ChannelOptions);
        if (ConnectionCount is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectionCount), ConnectionCount, "ConnectionCount must be 1 to 64 (channels calls are spread over).");
        }
        if (MaxSendMessageSize < 0 || MaxReceiveMessageSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSendMessageSize), "Message size limits cannot be negative: use null for no limit.");
        }
    }
}
