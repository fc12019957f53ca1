using System.Buffers;
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
/// One accepted channel as a Kestrel connection. <see cref="ConnectionContext.Transport"/> is a pair of
/// <see cref="Pipe"/>s over pooled memory, pumped to and from the channel by two loops: receive polls the ring and
/// copies each record straight into the input pipe's buffers; send takes whatever Kestrel flushed and publishes it as
/// one record (claimed in place when it fits), so an HTTP/2 flush costs one ring record and at most one doorbell.
/// Neither loop allocates buffers (pipe memory is pooled; nothing grows with the message); what remains per wake-up
/// is the thread-pool scheduling of continuations (ConnectionPumpTests measures it).
/// </summary>
internal sealed class IicConnection : ConnectionContext, IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);
    private static long s_nextId;
    private readonly IicChannel _channel;
    private readonly ILogger _logger;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly CancellationTokenSource _stopReceiving = new();
    private readonly FeatureCollection _features = new();
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private int _closedSignalled;
    private int _disposed;

    public IicConnection(IicChannel channel, IicEndPoint endPoint, bool inlineScheduling, ILogger? logger = null)
    {
        _channel = channel;
        _logger = logger ?? NullLogger.Instance;
        LocalEndPoint = endPoint;
        RemoteEndPoint = endPoint;
        ConnectionId = "iic-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var appScheduler = inlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
        _input = new Pipe(new PipeOptions(readerScheduler: appScheduler, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: appScheduler, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
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

    /// <summary>Starts the two pumps.</summary>
    public void Start()
    {
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _stopReceiving.Cancel();
        _output.Reader.CancelPendingRead();
        SignalClosed();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await base.DisposeAsync().ConfigureAwait(false);
            return;
        }
        // Kestrel is done with the connection: finish sending what it wrote, then stop receiving, then close the channel
        // (never while a loop still touches it).
        Transport.Input.Complete();
        Transport.Output.Complete();
        try
        {
            // A client that stopped reading leaves a full ring: give it a bounded time, then cancel the waiting send.
            await _sending.WaitAsync(s_drainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _stopReceiving.Cancel();
            await _sending.ConfigureAwait(false);
        }
        _stopReceiving.Cancel();
        _input.Writer.CancelPendingFlush();
        await _receiving.ConfigureAwait(false);
        SignalClosed();
        await _channel.DisposeAsync().ConfigureAwait(false);
        // The token sources hold no timer and are not disposed: a late Abort may still cancel them harmlessly.
    }

    private async Task ReceiveLoopAsync()
    {
        await Task.Yield(); // off the accept path
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                var handler = new ChannelToPipe(writer);
                int received;
                try
                {
                    received = _channel.Poll(ref handler, 64);
                }
                catch (IicChannelClosedException)
                {
                    break; // the client closed and everything it sent was delivered
                }
                if (received > 0)
                {
                    var flush = await writer.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        break;
                    }
                    continue;
                }
                await _channel.WaitToReceiveAsync(_stopReceiving.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // aborted or disposed
        }
        catch (Exception e) when (e is PeerDeadException or RingFaultException or ObjectDisposedException)
        {
            error = new ConnectionResetException(e.Message, e);
            IicLog.ConnectionReset(_logger, ConnectionId, LocalEndPoint?.ToString() ?? "", e.Message);
        }
        await writer.CompleteAsync(error).ConfigureAwait(false);
        SignalClosed();
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    Publish(buffer);
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IicChannelClosedException or PeerDeadException or RingFaultException or ObjectDisposedException or OperationCanceledException)
        {
            error = new ConnectionResetException(e.Message, e);
            SignalClosed();
        }
        await reader.CompleteAsync(error).ConfigureAwait(false);
    }

    /// <summary>One flush, one record when it fits (written in place), else chunks of the largest record (back pressure by waiting).</summary>
    private void Publish(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length <= _channel.MaxClaimLength && _channel.TryClaim((int)buffer.Length, out var claim))
        {
            buffer.CopyTo(claim.Span);
            claim.Commit();
            return;
        }
        foreach (var segment in buffer)
        {
            _channel.SendChunks(segment.Span, _stopReceiving.Token);
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

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
