using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// A connected, bidirectional message channel between two partitions over shared memory: each direction is a
/// lock-free ring in a sealed window, and a receiver that sleeps is woken by the sender's doorbell only then.
/// <para>Thread safety: one thread may send while another receives. Two threads must not send at once, nor
/// receive at once (the single-producer single-consumer fast path); use a lock around your calls if you need
/// several. Dispose may be called from any thread.</para>
/// <para>Ends: disposing either side ends the other side's receives with <see cref="IicChannelClosedException"/>
/// after it has received everything already sent (Stream reads return 0); a peer that dies gives
/// <see cref="PeerDeadException"/> instead; any use after this side's Dispose gives <see cref="ObjectDisposedException"/>.</para>
/// </summary>
public sealed class IicChannel : IDisposable, IAsyncDisposable
{
    private readonly WindowEndpoint _endpoint;
    private readonly AsyncReceiveSource _asyncReceive;
    private IicStream? _stream;
    private int _disposed;

    internal IicChannel(WindowEndpoint endpoint, ChannelOptions options)
    {
        _endpoint = endpoint;
        Options = options;
        _asyncReceive = new AsyncReceiveSource(endpoint);
        TransportMetrics.Register(this);
        IicEventSource.Log.ChannelOpened(options.Name, endpoint.Side, Environment.ProcessId);
    }

    /// <summary>The options the channel was made with.</summary>
    public ChannelOptions Options { get; }

    /// <summary>The largest message that travels as one record: the most <see cref="TryClaim"/> can claim. Larger messages are fragmented by Send.</summary>
    public int MaxClaimLength => _endpoint.MaxRecordPayloadLength;

    /// <summary>The largest message (1 GiB).</summary>
    public static long MaxMessageLength => WindowEndpoint.MaxMessageLength;

    /// <summary>The underlying endpoint (window side, rings, doorbell and waiter); read counters with <see cref="GetStatistics"/>.</summary>
    internal WindowEndpoint Endpoint => _endpoint;

    /// <summary>A snapshot of this side's counters: messages and bytes each way, back pressure, faults, doorbells and waits.</summary>
    public ChannelStatistics GetStatistics() => new()
    {
        MessagesSent = _endpoint.MessagesSent,
        BytesSent = _endpoint.BytesSent,
        MessagesReceived = _endpoint.MessagesReceived,
        BytesReceived = _endpoint.BytesReceived,
        RingFullStalls = _endpoint.RingFullStalls,
        Faults = _endpoint.Faults,
        OutgoingOccupancy = _endpoint.OutgoingOccupancy,
        SignalsRaised = _endpoint.Doorbell.SignalsRaised,
        SignalsSuppressed = _endpoint.Doorbell.SignalsSuppressed,
        Wait = WaitStatistics.Of(_endpoint.Waiter),
    };

    /// <summary>Whether this side was disposed.</summary>
    public bool IsDisposed => _disposed != 0;

    /// <summary>Creates two connected channels in this process (over a private window), e.g. for tests and embedding.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The ring capacity is not a power of two within the limits.</exception>
    public static (IicChannel First, IicChannel Second) CreatePair(ChannelOptions? options = null)
    {
        options ??= ChannelOptions.Default;
        var window = SharedWindow.Create(WindowOptions.WithCapacity(options.RingCapacity), "iic-" + options.Name);
        var shared = new SharedOwnership(window);
        return (Open(window, 0, options, shared), Open(window, 1, options, shared));
    }

    /// <summary>
    /// Opens side <paramref name="side"/> of a window (one a partition was granted, or one made with
    /// <see cref="SharedWindow.Create"/>). The channel takes ownership of the window. Internal: applications
    /// get channels from <see cref="Connect"/>, <see cref="IicListener"/> or <see cref="CreatePair"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The side is not 0 or 1.</exception>
    internal static IicChannel Open(SharedWindow window, int side, ChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(window);
        return Open(window, side, options ?? ChannelOptions.Default, null);
    }

    private static IicChannel Open(SharedWindow window, int side, ChannelOptions options, SharedOwnership? shared)
    {
        var endpoint = new WindowEndpoint(window, side, options.WaitStrategy, ownsWindow: shared is null);
        var channel = new IicChannel(endpoint, options);
        channel._sharedOwnership = shared?.AddOwner();
        return channel;
    }

    private SharedOwnership? _sharedOwnership;
    private Action? _release;

    /// <summary>
    /// Connects to <paramref name="service"/> through <paramref name="partition"/>'s hypervisor, waiting up to
    /// <paramref name="timeout"/> (default 5 s) for a partition to offer it. Works the same whether the
    /// listener is in this process or another.
    /// </summary>
    /// <exception cref="HypervisorException">Unknown service, policy denial, or the hypervisor is gone.</exception>
    public static IicChannel Connect(Partition partition, string service, ChannelOptions? options = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(partition);
        options ??= ChannelOptions.Default;
        var connection = partition.Connect(service, options.RingCapacity, timeout, options.Grouped);
        return FromGrant(connection, options);
    }

    /// <summary>
    /// Connects to <paramref name="service"/> through <paramref name="partition"/>'s hypervisor without blocking a
    /// thread, waiting up to <paramref name="timeout"/> (default 5 s) for a partition to offer it.
    /// </summary>
    /// <exception cref="HypervisorException">Unknown service, policy denial, or the hypervisor is gone.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public static async Task<IicChannel> ConnectAsync(Partition partition, string service, ChannelOptions? options = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partition);
        options ??= ChannelOptions.Default;
        var connection = await partition.ConnectAsync(service, options.RingCapacity, timeout, options.Grouped).WaitAsync(cancellationToken).ConfigureAwait(false);
        return FromGrant(connection, options);
    }

    /// <summary>Opens a channel on a window the hypervisor granted; the channel owns it from now on.</summary>
    internal static IicChannel FromGrant(GrantedConnection connection, ChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        options ??= ChannelOptions.Default;
        if (options.Name == ChannelOptions.Default.Name)
        {
            options = options with { Name = connection.Service };
        }
        var release = connection.DetachRelease();
        WindowEndpoint endpoint;
        try
        {
            endpoint = new WindowEndpoint(connection.Window, connection.Side, options.WaitStrategy, ownsWindow: true);
        }
        catch
        {
            // A window the peer already corrupted (RingFaultException): unmap it and release the grant, or both leak.
            connection.Window.Dispose();
            release();
            throw;
        }
        return new IicChannel(endpoint, options) { _release = release };
    }

    /// <summary>
    /// Sends one message: one copy, from <paramref name="message"/> into the ring the peer reads. Waits with
    /// back pressure while the ring is full; never drops.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The message is longer than <see cref="MaxMessageLength"/>.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed.</exception>
    /// <exception cref="PeerDeadException">The peer died.</exception>
    /// <exception cref="ObjectDisposedException">This side was disposed.</exception>
    public void Send(ReadOnlySpan<byte> message) => _endpoint.Send(message, long.MaxValue);

    /// <summary>Sends one message if the ring has room for all of it now.</summary>
    /// <returns>False when it would have to wait (nothing was sent).</returns>
    /// <exception cref="ArgumentOutOfRangeException">The message can never be sent without waiting: it is larger than the ring; use <see cref="Send(ReadOnlySpan{byte})"/>.</exception>
    public bool TrySend(ReadOnlySpan<byte> message)
    {
        if (message.Length > _endpoint.MaxRecordPayloadLength)
        {
            throw new ArgumentOutOfRangeException(nameof(message), message.Length,
                $"TrySend sends only messages of up to {_endpoint.MaxRecordPayloadLength} bytes (one record); use Send, which waits while it fragments larger ones.");
        }
        return _endpoint.Send(message, 0);
    }

    /// <summary>Sends one message, waiting at most <paramref name="timeout"/> for room.</summary>
    /// <returns>False if there was no room in time (nothing was sent).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    public bool TrySend(ReadOnlySpan<byte> message, TimeSpan timeout) => _endpoint.Send(message, Deadline(timeout));

    /// <summary>Sends one message, waiting for room until it fits or <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <exception cref="OperationCanceledException">Cancelled before the message could be sent (nothing was sent).</exception>
    public void Send(ReadOnlySpan<byte> message, CancellationToken cancellationToken)
    {
        while (!_endpoint.Send(message, Deadline(TimeSpan.FromMilliseconds(10))))
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Claims room for a message of <paramref name="length"/> bytes to be written in place (zero copy on the
    /// way in). Commit or abort the claim before claiming or sending again.
    /// </summary>
    /// <returns>False when there is no room now.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative or above <see cref="MaxClaimLength"/>.</exception>
    /// <exception cref="InvalidOperationException">A claim is already open.</exception>
    public bool TryClaim(int length, out ChannelClaim claim)
    {
        if (_endpoint.TryClaim(length, out var span))
        {
            claim = new ChannelClaim(this, span, ++_claimGeneration);
            return true;
        }
        claim = default;
        return false;
    }

    internal void CommitClaim(long generation)
    {
        CheckClaim(generation);
        _endpoint.Commit();
    }

    internal void AbortClaim(long generation)
    {
        CheckClaim(generation);
        _endpoint.Abort();
    }

    /// <summary>
    /// A <see cref="ChannelClaim"/> is a struct: a stale copy of a finished claim must not commit or abort the
    /// claim opened after it. Each claim carries the number of its TryClaim; only the open one may finish.
    /// </summary>
    private void CheckClaim(long generation)
    {
        if (generation != _claimGeneration || !_endpoint.HasOpenClaim)
        {
            throw new InvalidOperationException("This claim was already committed or aborted (a copy of it was): claim again with TryClaim.");
        }
    }

    private long _claimGeneration;

    /// <summary>
    /// Receives one message into <paramref name="destination"/>, waiting for it.
    /// </summary>
    /// <returns>The message length.</returns>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread (the exception says the size needed).</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Receive(Span<byte> destination)
    {
        _endpoint.TryReceive(destination, out var length, long.MaxValue);
        return length;
    }

    /// <summary>Receives one message, waiting until it arrives or <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <exception cref="OperationCanceledException">Cancelled before a message arrived.</exception>
    public int Receive(Span<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_endpoint.TryReceive(destination, out var length, Deadline(TimeSpan.FromMilliseconds(10))))
            {
                return length;
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Receives one message if one is waiting now.</summary>
    /// <returns>False when none is waiting.</returns>
    public bool TryReceive(Span<byte> destination, out int length) => _endpoint.TryReceive(destination, out length, 0);

    /// <summary>Receives one message, waiting at most <paramref name="timeout"/>.</summary>
    /// <returns>False when none arrived in time.</returns>
    public bool TryReceive(Span<byte> destination, out int length, TimeSpan timeout)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            _ = Deadline(timeout); // refuses it, before anything is taken, with a message that says what to pass
        }
        // A message is there: take it without reading the clock; the deadline is computed only to wait.
        return (!Options.Grouped && _endpoint.TryReceive(destination, out length, 0))
            || _endpoint.TryReceive(destination, out length, Deadline(timeout));
    }

    /// <summary>
    /// Receives one message asynchronously. It spins briefly on the calling thread (per the wait strategy);
    /// while it waits longer, no thread is held: a shared dispatcher thread sleeps on this channel's interrupt
    /// page (with futex_waitv, many channels per thread) and resumes the receive. One receive at a time.
    /// </summary>
    /// <exception cref="MessageTooLargeException">The buffer is too small; the message stays unread.</exception>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    /// <exception cref="OperationCanceledException">Cancelled before a message arrived.</exception>
    public ValueTask<int> ReceiveAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (TryReceiveWithoutWaiting(destination.Span, out var length)
            || (_endpoint.WaitToReceive(SpinDeadline()) && TryReceiveWithoutWaiting(destination.Span, out length)))
        {
            return new ValueTask<int>(length);
        }
        return ReceiveSlowAsync(destination, cancellationToken);
    }

    private async ValueTask<int> ReceiveSlowAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await _asyncReceive.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (TryReceiveWithoutWaiting(destination.Span, out var length))
            {
                return length;
            }
        }
    }

    /// <summary>
    /// Receives one whole message if it is there, never waiting: a message still arriving in fragments is gathered
    /// across calls (in the endpoint's reassembly buffer), so an asynchronous receive never blocks its thread.
    /// </summary>
    private bool TryReceiveWithoutWaiting(Span<byte> destination, out int length)
    {
        var copy = new CopyOut(destination);
        var handled = _endpoint.Poll(ref copy, 1);
        length = copy.Length;
        return handled == 1;
    }

    /// <summary>Copies a message out; a buffer that is too small throws and leaves the message unread.</summary>
    private ref struct CopyOut(Span<byte> destination) : IMessageHandler
    {
        private readonly Span<byte> _destination = destination;

        public int Length { get; private set; }

        public void OnMessage(ReadOnlySpan<byte> message)
        {
            if (message.Length > _destination.Length)
            {
                throw new MessageTooLargeException(message.Length, _destination.Length);
            }
            message.CopyTo(_destination);
            Length = message.Length;
        }
    }

    /// <summary>Waits asynchronously until a message (or the end of the channel) is ready to receive.</summary>
    /// <exception cref="OperationCanceledException">Cancelled first.</exception>
    public ValueTask WaitToReceiveAsync(CancellationToken cancellationToken = default)
    {
        if (_endpoint.WaitToReceive(SpinDeadline()))
        {
            return ValueTask.CompletedTask;
        }
        return _asyncReceive.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Hands up to <paramref name="limit"/> waiting messages to <paramref name="handler"/> in place (zero copy
    /// on the way out); the span is valid only during the call. Does not wait. A static lambda with
    /// <paramref name="state"/> allocates nothing.
    /// </summary>
    /// <returns>The number of messages handled.</returns>
    /// <exception cref="IicChannelClosedException">The peer closed and every message was received.</exception>
    /// <exception cref="PeerDeadException">The peer died and every message it published was received.</exception>
    public int Poll<TState>(ReadOnlySpanAction<byte, TState> handler, TState state, int limit = int.MaxValue) => _endpoint.Poll(handler, state, limit);

    /// <summary>Like <see cref="Poll{TState}(ReadOnlySpanAction{byte, TState}, TState, int)"/> with a struct handler (specialised, no allocation).</summary>
    public int Poll<THandler>(ref THandler handler, int limit = int.MaxValue)
        where THandler : struct, IMessageHandler, allows ref struct => _endpoint.Poll(ref handler, limit);

    /// <summary>
    /// A full-duplex byte stream over the channel (message boundaries do not matter to it), so SslStream,
    /// StreamJsonRpc, HTTP/2 or any Stream protocol runs over it unchanged. The same stream every call;
    /// disposing it disposes the channel.
    /// </summary>
    public Stream AsStream() => _stream ??= new IicStream(this);

    /// <summary>An <see cref="IDuplexPipe"/> over <see cref="AsStream"/>, for System.IO.Pipelines protocols (Kestrel-style).</summary>
    public IDuplexPipe AsDuplexPipe() => new StreamDuplexPipe(AsStream());

    /// <summary>Closes this side. The peer receives what was already sent, then sees the end.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        TransportMetrics.Unregister(this);
        _endpoint.Dispose();
        _asyncReceive.Dispose();
        _sharedOwnership?.Release();
        _release?.Invoke();
        IicEventSource.Log.ChannelClosed(Options.Name, _endpoint.Side, Environment.ProcessId);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// How long an async receive spins on the caller's thread before handing the wait to the dispatcher: the wait
    /// strategy's budget, but at most 20 µs. The caller is usually a thread-pool thread, and the work an async
    /// consumer waits for (an HTTP/2 frame's reply, say) often needs that very pool: a longer inline spin
    /// delayed gRPC round trips from ~0.2 ms to ~2 ms.
    /// </summary>
    private long SpinDeadline()
    {
        var budget = _endpoint.Waiter.CurrentSpinBudget;
        return Deadline(budget < s_asyncSpinCap ? budget : s_asyncSpinCap);
    }

    private static readonly TimeSpan s_asyncSpinCap = TimeSpan.FromMicroseconds(20);

    private static long Deadline(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return long.MaxValue;
        }
        if (timeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout,
                "A timeout cannot be negative: pass TimeSpan.Zero to try once without waiting, or Timeout.InfiniteTimeSpan to wait as long as needed.");
        }
        return Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Disposes a window shared by the two in-process ends of <see cref="CreatePair"/> when both are gone.</summary>
    private sealed class SharedOwnership(SharedWindow window)
    {
        private int _owners;

        public SharedOwnership AddOwner()
        {
            Interlocked.Increment(ref _owners);
            return this;
        }

        public void Release()
        {
            if (Interlocked.Decrement(ref _owners) == 0)
            {
                window.Dispose();
            }
        }
    }
}
