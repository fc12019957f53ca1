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
    /// The most bytes of one header block this side sends or accepts: a call's request headers (with the method name and timeout), or response headers or trailers (with the status and its detail), as the frame carries it (each entry's key and
    /// value with a few bytes of lengths; a carried message does not count). Default 4 MiB (SocketsHttpHandler's MaxResponseHeadersLength is 64 KiB, but a larger default keeps working what worked before this limit existed). A block longer than one ring record is sent in
    /// pieces of one record each (docs/grpc-call-protocol.md, 2.9), so any block up to this limit goes, whatever the ring's
    /// size. A call whose request headers are over it ends <c>ResourceExhausted</c> before anything of it is sent. The client announces it to a server that reads it (round 22 or later: a ClientSettings frame when the connection opens), which refuses response headers and trailers over it before sending them (its <c>WriteResponseHeadersAsync</c> throws <c>RpcException</c> <c>ResourceExhausted</c>; trailers are replaced by Trailers <c>ResourceExhausted</c> naming this option). Response headers or trailers over it from an earlier server end that call <c>ResourceExhausted</c> here, and the connection goes on; a connection gathers at most this much.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 1024 or above 1 GiB (1073741824): give a size in that range.</exception>
    public int MaxMetadataSize
    {
        get => _maxMetadataSize;
        set => _maxMetadataSize = Protocol.MetadataSizeLimit.Validate(value);
    }

    private int _maxMetadataSize = DefaultMaxMetadataSize;

    /// <summary>The default <see cref="MaxMetadataSize"/>: 4 MiB.</summary>
    public const int DefaultMaxMetadataSize = Protocol.MetadataSizeLimit.Default;

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
