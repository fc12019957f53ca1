using System.IO.Pipelines;
using System.Net;
using IIC.Hardware;
using IIC.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace IIC.AspNetCore;

/// <summary>
/// One accepted channel as a Kestrel connection. <see cref="ConnectionContext.Transport"/> is IICFast's one duplex pipe
/// (<see cref="IicDuplexPipe"/>, also behind <see cref="IicChannel.AsDuplexPipe"/>): a dedicated receive thread copies each
/// record from the ring into the input pipe's pooled buffers and continues Kestrel's reader (inline with
/// <see cref="IicTransportOptions.PreferInlineScheduling"/>), spinning under continuous traffic and parked when idle;
/// each flush Kestrel makes is published as one ring record on the flushing thread. Nothing allocates per message.
/// <para><see cref="ConnectionClosed"/> fires when the pipe's receive thread ends, whatever ended it (the peer's close or
/// death, a refused message, bytes arriving after Kestrel completed the transport's input, an abort or the disposal), as
/// Kestrel's SocketConnection fires it when its receive loop ends; the pipe's errors reach Kestrel's reads as
/// <see cref="ConnectionResetException"/> (<see cref="ToConnectionReset"/>), while its flushes at the end return
/// IsCompleted without an error, as SocketConnection's output does (<see cref="IicDuplexPipe.EndOutputWithoutError"/>).
/// An error that stops the send loop and is not the connection's end (a bug, or a misuse) is the exception, as in
/// SocketConnection: it closes the connection, Kestrel's next flush throws it, and it is logged at Error
/// (<see cref="IicLog.SendFailed"/>, round 24). One that stops the receive thread fails Kestrel's reads with it, resets
/// the connection (ConnectionClosed fires, the peer's sends end) and is logged at Error too (<see cref="IicLog.ReceiveFailed"/>,
/// round 25), as SocketConnection.DoReceive logs an unexpected receive error and completes its input with it.</para>
/// </summary>
internal sealed class IicConnection : ConnectionContext, IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    private static long s_nextId;
    private readonly IicDuplexPipe _pipe;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _closed = new();
    private readonly FeatureCollection _features = new();
    private int _closedSignalled;
    private int _disposed;

    public IicConnection(IicChannel channel, IicEndPoint endPoint, IicPipeOptions pipeOptions, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        LocalEndPoint = endPoint;
        RemoteEndPoint = endPoint;
        ConnectionId = "iic-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _pipe = new IicDuplexPipe(channel, pipeOptions, "IIC receive " + ConnectionId)
        {
            TranslateError = ToConnectionReset,
            ChannelEnded = SignalClosed,
            UnexpectedError = LogUnexpectedError, // as SocketConnection logs ConnectionError; the pipe ends the connection (a send error: Kestrel's next flush throws it)
            EndOutputWithoutError = true, // flushes return IsCompleted at the end, as SocketConnection's: Kestrel logs a throwing flush as an error
            DetectHttp2OnReceive = true, // IicPipeOptions.InlineHttp2Reads: Kestrel's HTTP/2 copies and dispatches itself
        };
        Transport = _pipe;
        ConnectionClosed = _closed.Token;
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IConnectionEndPointFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    /// <summary>The pipe under <see cref="Transport"/> (tests watch its receive thread).</summary>
    internal IicDuplexPipe Pipe => _pipe;

    /// <summary>Starts the receive thread and the send loop.</summary>
    public void Start() => _pipe.Start();

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _pipe.Abort();
        SignalClosed();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await base.DisposeAsync().ConfigureAwait(false);
            return;
        }
        // Kestrel is done with the connection: finish sending what it wrote (a client that stopped reading gets a bounded
        // time), then close the channel and wait for the receive thread to exit.
        await _pipe.DisposeAsync(IicDuplexPipe.DefaultDrainTimeout).ConfigureAwait(false);
        SignalClosed();
        // The token source holds no timer and is not disposed: a late Abort may still cancel it harmlessly.
    }

    /// <summary>
    /// Kestrel expects a reset connection as <see cref="ConnectionResetException"/> (an <see cref="IOException"/>), as its
    /// socket transport reports ECONNRESET; the IICFast exception is its InnerException. That covers the peer's death, a
    /// corrupt ring, the peer's close seen by a send, and (round 23) a message this side refused and the resets it and
    /// bytes nobody will read cause; Kestrel got the refusal as a bare <see cref="ReceiveLimitExceededException"/> before
    /// (its HTTP/1.x loop stays quiet about a <see cref="ConnectionResetException"/> between requests and logs other
    /// <see cref="IOException"/>s). The reason of a death, fault or refusal is logged once here.
    /// </summary>
    private ConnectionResetException ToConnectionReset(Exception e)
    {
        if (e is PeerDeadException or RingFaultException or ReceiveLimitExceededException or IicChannelClosedException { PeerReset: true })
        {
            IicLog.ConnectionReset(_logger, ConnectionId, LocalEndPoint?.ToString() ?? "", e.Message);
        }
        return new ConnectionResetException(e.Message, e);
    }

    /// <summary>
    /// The pipe's send loop or receive thread stopped at an error that is not the connection's end
    /// (<see cref="IicDuplexPipe.UnexpectedError"/>). Kestrel's socket transport logs one as ConnectionError at Debug,
    /// where it is mostly a socket's error; over IICFast neither the peer nor the machine can cause it (those are the
    /// channel's ends), so it is a bug or a misuse: Error, <see cref="IicLog.SendFailed"/> (round 24) or
    /// <see cref="IicLog.ReceiveFailed"/> (round 25; before, Kestrel's reads got the exception and nothing was logged).
    /// </summary>
    private void LogUnexpectedError(Exception e, PipeDirection direction)
    {
        var address = LocalEndPoint?.ToString() ?? "";
        if (direction == PipeDirection.Receive)
        {
            IicLog.ReceiveFailed(_logger, e, ConnectionId, address);
        }
        else
        {
            IicLog.SendFailed(_logger, e, ConnectionId, address);
        }
    }

    private void SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static cts =>
            {
                try
                {
                    cts.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // disposed meanwhile
                }
            }, _closed, preferLocal: false);
        }
    }
}
