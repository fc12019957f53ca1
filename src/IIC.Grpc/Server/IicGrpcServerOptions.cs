using IIC.AspNetCore;
using IIC.Transport;

namespace IIC.Grpc.Server;

/// <summary>The native gRPC server's options: which IICFast service it offers and what it accepts.</summary>
public sealed class IicGrpcServerOptions
{
    /// <summary>The IICFast service name clients connect to (<c>iic://NAME</c>). Required.</summary>
    public string? ServiceName { get; set; }

    /// <summary>Where the hypervisor is, this partition's name, and whether to start an embedded hypervisor.</summary>
    public IicTransportOptions Transport { get; set; } = new();

    /// <summary>The channel options of accepted connections (default: 1 MiB rings, adaptive waiting on each connection's reader thread).</summary>
    public ChannelOptions ChannelOptions { get; set; } = ChannelOptions.Default;

    /// <summary>The largest request message accepted (default 4 MiB, as Grpc.AspNetCore); null means no limit.</summary>
    public int? MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>The largest response message sent; null means no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>
    /// Start handlers on the connection's reader thread instead of the thread pool: a handler that completes without
    /// waiting (most unary handlers) then answers without any thread hop, the lowest latency there is. Code up to a
    /// handler's first incomplete await delays the connection's other calls, and a handler that blocks on that
    /// thread stalls them; use only with handlers that do not block. Default false.
    /// </summary>
    public bool RunHandlersInline { get; set; }

    /// <summary>The default <see cref="MaxConcurrentCallsPerConnection"/>: 100, as Kestrel's HTTP/2 <c>MaxStreamsPerConnection</c>.</summary>
    public const int DefaultMaxConcurrentCallsPerConnection = 100;

    private int? _maxConcurrentCallsPerConnection = DefaultMaxConcurrentCallsPerConnection;

    /// <summary>
    /// The most calls one client connection may have open at once (default 100, as Kestrel's HTTP/2
    /// <c>MaxStreamsPerConnection</c>); null means no limit. The server announces it in the first frame of every
    /// connection (docs/grpc-call-protocol.md, 2.8); IIC.Grpc's client queues the calls above it and starts each when one
    /// of that connection's calls ends. A client that opens more anyway is broken or hostile: its connection is closed
    /// (every call on it ends), so one connection holds at most this many handlers and queued trailers.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to 0 or less: give at least 1, or null for no limit.</exception>
    public int? MaxConcurrentCallsPerConnection
    {
        get => _maxConcurrentCallsPerConnection;
        set
        {
            if (value < 1)
            {
                // As Kestrel's Http2Limits.MaxStreamsPerConnection, refused when set: nothing changes.
                throw new ArgumentOutOfRangeException(nameof(value), value, "MaxConcurrentCallsPerConnection must be at least 1 (calls one connection may have open at once); use null for no limit.");
            }
            _maxConcurrentCallsPerConnection = value;
        }
    }

    /// <summary>The default <see cref="ResponseStallTimeout"/>: 30 seconds.</summary>
    public static readonly TimeSpan DefaultResponseStallTimeout = TimeSpan.FromSeconds(30);

    private TimeSpan? _responseStallTimeout = DefaultResponseStallTimeout;

    /// <summary>
    /// How long a connection's responses may wait for room while its client reads nothing at all before the server closes
    /// the connection (every call on it ends: handlers' tokens fire, their writes fail), as Kestrel's
    /// <c>MinResponseDataRate</c> closes a connection whose client does not read responses. Default 30 seconds; null means
    /// never. Responses that wait hold their serialized messages in the connection's queue, so a client that stops reading
    /// (frozen, or hostile) could otherwise pin up to <see cref="MaxConcurrentCallsPerConnection"/> messages of server memory
    /// for as long as it likes. Any byte the client takes restarts the clock: a slow reader is not closed. The clock runs
    /// only while a response waits for room (an idle connection is never closed by it). The closing is logged (a warning).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to zero, a negative time or more than <see cref="int.MaxValue"/> milliseconds: give a positive time, or null for never.</exception>
    public TimeSpan? ResponseStallTimeout
    {
        get => _responseStallTimeout;
        set
        {
            if (value is { } timeout && (timeout <= TimeSpan.Zero || timeout.TotalMilliseconds > int.MaxValue))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "ResponseStallTimeout must be more than zero and at most int.MaxValue milliseconds (how long responses may wait for a client that reads nothing); use null for never.");
            }
            _responseStallTimeout = value;
        }
    }

    /// <summary>
    /// The most bytes of one header block this side sends or accepts: a call's request headers (with the method name and timeout), response headers, or trailers (with the status and its detail), as the frame carries it (each entry's key and
    /// value with a few bytes of lengths; a carried message does not count). Default 4 MiB (as the default MaxReceiveMessageSize: Kestrel's MaxRequestHeadersTotalSize is 32 KiB, but metadata that large already fails over HTTP/2, and a larger default keeps working what worked before this limit existed). A block longer than one ring record is sent in
    /// pieces of one record each (docs/grpc-call-protocol.md, 2.9), so any block up to this limit goes, whatever the ring's
    /// size. Response headers over it, or over the client's own limit (which a client of round 22 or later announces when the connection opens: its IicGrpcClientOptions.MaxMetadataSize), make <c>WriteResponseHeadersAsync</c> throw <c>RpcException</c> <c>ResourceExhausted</c>; trailers over either are replaced by Trailers <c>ResourceExhausted</c> saying so; nothing of the block is sent. A client that sends request headers over it is broken or hostile: its connection is closed as a protocol error (every call on it ends; the client's <c>Unavailable</c>), as Kestrel closes an HTTP/2 connection whose header block is far over MaxRequestHeadersTotalSize, so a connection gathers at most this much.
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

    /// <summary>Put the exception's message in the status detail when a handler throws (default false, as Grpc.AspNetCore).</summary>
    public bool EnableDetailedErrors { get; set; }

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            throw new InvalidOperationException("IicGrpcServerOptions.ServiceName is not set: name the IICFast service clients reach as iic://NAME.");
        }
        ArgumentNullException.ThrowIfNull(Transport);
        ArgumentNullException.ThrowIfNull(ChannelOptions);
        if (MaxSendMessageSize < 0 || MaxReceiveMessageSize < 0)
        {
            throw new InvalidOperationException("Message size limits cannot be negative: use null for no limit.");
        }
    }
}
