using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// A connected, bidirectional message channel between two partitions over shared memory: each direction is a
/// lock-free ring in a sealed window, and a receiver that sleeps is woken by the sender's doorbell only then.
/// <para>Thread safety, as in System.Threading.Channels: by default any number of threads may send and any number
/// may receive at once; they take turns (one uncontended interlocked operation per call), each message goes whole to
/// one receiver, and messages from one sending thread arrive in the order it sent them. With
/// <see cref="ChannelOptions.SingleWriter"/> / <see cref="ChannelOptions.SingleReader"/> you promise one thread per
/// role; a second concurrent thread gets an <see cref="InvalidOperationException"/>, never a corrupt message. An open
/// <see cref="ChannelClaim"/> holds the send side until it is committed or aborted. Dispose may be called from any
/// thread at any time: calls in progress end with <see cref="ObjectDisposedException"/>.</para>
/// <para>Lifetime: a channel outlives the <see cref="Partition"/> it was connected through; disposing the partition
/// stops new connections, not this one.</para>
/// <para>Ends: disposing either side ends the other side's receives with <see cref="IicChannelClosedException"/>
/// after it has received everything already sent (Stream reads return 0); a peer that dies gives
/// <see cref="PeerDeadException"/> instead; any use after this side's Dispose gives <see cref="ObjectDisposedException"/>.</para>
/// </summary>
public sealed partial class IicChannel : IDisposable, IAsyncDisposable
{
    private readonly WindowEndpoint _endpoint;
    private readonly AsyncReceiveSource _asyncReceive;
    private IicStream? _stream;
    private int _disposed;

    internal IicChannel(WindowEndpoint endpoint, ChannelOptions options)
    {
        _endpoint = endpoint;
        Options = options;
        _asyncReceive = new AsyncReceiveSource(endpoint, options.UnsafePreferInlineCompletions);
        TransportMetrics.Register(this);
        IicEventSource.Log.ChannelOpened(options.Name, endpoint.Side, Environment.ProcessId);
    }

    /// <summary>The options the channel was made with.</summary>
    public ChannelOptions Options { get; }

    /// <summary>The largest message that travels as one record: the most <see cref="TryClaim"/> can claim. Larger messages are fragmented by Send.</summary>
    public int MaxClaimLength => _endpoint.MaxRecordPayloadLength;

    /// <summary>The largest message (1 GiB).</summary>
    public static long MaxMessageLength => WindowEndpoint.MaxMessageLength;

    /// <summary>The awaitable behind async receives (tests read which dispatcher serves it).</summary>
    internal AsyncReceiveSource AsyncReceive => _asyncReceive;

    /// <summary>The underlying endpoint (window side, rings, doorbell and waiter); read counters with <see cref="GetStatistics"/>.</summary>
    internal WindowEndpoint Endpoint => _endpoint;

    /// <summary>A snapshot of this side's counters: messages and bytes each way, back pressure, faults, doorbells and waits.</summary>
    /// <remarks>
    /// Safe from any thread at any time, also during and after <see cref="Dispose"/> (e.g. on a closed connection's
    /// channel): it never throws <see cref="ObjectDisposedException"/> and returns the last counters. The counters live in
    /// this process; only <see cref="ChannelStatistics.OutgoingOccupancy"/> is read from the shared ring, and it reads 0 once
    /// this side is disposed (the ring is no longer this side's to report).
    /// </remarks>
    public ChannelStatistics GetStatistics() => new()
    {
        MessagesSent = _endpoint.MessagesSent,
        BytesSent = _endpoint.BytesSent,
        MessagesReceived = _endpoint.MessagesReceived,
        BytesReceived = _endpoint.BytesReceived,
        RingFullStalls = _endpoint.RingFullStalls,
        Faults = _endpoint.Faults,
        MessagesRefused = _endpoint.RefusedReceives,
        OutgoingOccupancy = ReadOutgoingOccupancy(),
        SignalsRaised = _endpoint.Doorbell.SignalsRaised,
        SignalsSuppressed = _endpoint.Doorbell.SignalsSuppressed,
        Wait = WaitStatistics.Of(_endpoint.Waiter),
    };

    /// <summary>
    /// The outgoing ring's occupancy (bytes), or 0 once this side is disposed or its window is unmapped; safe against a
    /// concurrent <see cref="Dispose"/> (for <see cref="GetStatistics"/> and the <c>iic.ring.usage</c> gauge).
    /// </summary>
    internal long ReadOutgoingOccupancy()
    {
        if (IsDisposed)
        {
            return 0; // the common after-close case: no reference count, no exception
        }
        // The ring's words are in the window's mapping, which the endpoint's Dispose (on any thread, at any moment after
        // the check above) may unmap. A reference on the mapping's handle keeps it mapped until we release it: munmap runs
        // only when the last reference goes (MappedMemory.ReleaseHandle). Once the handle is closed, the add throws
        // ObjectDisposedException and we read nothing. No allocation: the handle's own count, as the dispatcher's polls do.
        var memory = _endpoint.Window.Memory;
        var added = false;
        try
        {
            memory.DangerousAddRef(ref added);
            return _endpoint.OutgoingOccupancy; // tail - head, each read once; -1 for words a peer corrupted (validated there)
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
        finally
        {
            if (added)
            {
                memory.DangerousRelease();
            }
        }
    }

    /// <summary>Whether this side was disposed.</summary>
    public bool IsDisposed => _disposed != 0;

    /// <summary>Creates two connected channels in this process (over a private window), e.g. for tests and embedding.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The ring capacity is not a power of two within the limits.</exception>
    /// <exception cref="InsufficientMemoryException"><see cref="ChannelOptions.PreTouch"/> could not commit the window's pages.</exception>
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
        PreTouchIfAsked(window, options);
        var endpoint = new WindowEndpoint(window, side, options.WaitStrategy, ownsWindow: shared is null, options.MaxReceiveMessageLength);
        var channel = new IicChannel(endpoint, options);
        channel._sharedOwnership = shared?.AddOwner();
        return channel;
    }

    private SharedOwnership? _sharedOwnership;
    private Action? _release;

    /// <summary>
    /// Connects to <paramref name="service"/> through <paramref name="partition"/>'s hypervisor, waiting up to
    /// <paramref name="timeout"/> (default 5 s) for a partition to offer it. Works the same whether the
    /// listener is in this process or another. The channel outlives <paramref name="partition"/>.
    /// </summary>
    /// <param name="partition">The partition to connect through.</param>
    /// <param name="service">The service name.</param>
    /// <param name="options">Ring size, wait strategy, threading (<see cref="ChannelOptions.SingleWriter"/>...).</param>
    /// <param name="timeout">Bounds the whole call, also against a hypervisor that does not answer (zero: fail at once if
    /// the service is not offered; <see cref="Timeout.InfiniteTimeSpan"/> or <see cref="TimeSpan.MaxValue"/>: no limit).</param>
    /// <exception cref="HypervisorException">Unknown service, policy denial, no answer in time, or the hypervisor is gone.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout (other than infinite).</exception>
    /// <exception cref="ObjectDisposedException">The partition was disposed.</exception>
    /// <exception cref="InsufficientMemoryException"><see cref="ChannelOptions.PreTouch"/> could not commit the window's pages.</exception>
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
    /// <exception cref="InsufficientMemoryException"><see cref="ChannelOptions.PreTouch"/> could not commit the window's pages.</exception>
    public static async Task<IicChannel> ConnectAsync(Partition partition, string service, ChannelOptions? options = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(partition);
        options ??= ChannelOptions.Default;
        var connection = await partition.ConnectAsync(service, options.RingCapacity, timeout, options.Grouped, cancellationToken).ConfigureAwait(false);
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
            PreTouchIfAsked(connection.Window, options);
            ConnectTrace.Mark(ConnectStep.EndpointStart, connection.Side);
            endpoint = new WindowEndpoint(connection.Window, connection.Side, options.WaitStrategy, ownsWindow: true, options.MaxReceiveMessageLength);
        }
        catch
        {
            // A window the peer already corrupted (RingFaultException): unmap it and release the grant, or both leak.
            connection.Window.Dispose();
            release();
            throw;
        }
        ConnectTrace.Mark(ConnectStep.ChannelOpened, connection.Side);
        return new IicChannel(endpoint, options) { _release = release };
    }

    /// <summary>Faults in the whole window when <see cref="ChannelOptions.PreTouch"/> asks for it.</summary>
    /// <exception cref="InsufficientMemoryException">The kernel could not commit the window's pages.</exception>
    private static void PreTouchIfAsked(SharedWindow window, ChannelOptions options)
    {
        if (!options.PreTouch)
        {
            return;
        }
        try
        {
            window.Memory.PreFault();
        }
        catch (NativeException e)
        {
            throw new InsufficientMemoryException(string.Create(CultureInfo.InvariantCulture,
                $"ChannelOptions.PreTouch could not commit the channel's {window.Size} byte window ({e.ErrnoName}). Free memory or raise the memory cgroup's limit, choose a smaller RingCapacity, or turn PreTouch off to commit pages as the rings use them."), e);
        }
    }

    /// <summary>
    /// A full-duplex byte stream over the channel (message boundaries do not matter to it), so SslStream,
    /// StreamJsonRpc, HTTP/2 or any Stream protocol runs over it unchanged. The same stream every call;
    /// disposing it disposes the channel. One reader and one writer at a time (as a socket's NetworkStream), and while
    /// it is in use the stream is the channel's only sender and receiver. A <c>WriteAsync</c> that finds the peer's ring
    /// full returns a pending task and holds no thread: it resumes on the ring's "room" wake when the peer's reader frees
    /// space (the same wait as <see cref="AsDuplexPipe(IicPipeOptions?)"/>'s), ends with <see cref="OperationCanceledException"/> when its
    /// token is cancelled (the records it sent stay sent) and with <see cref="ObjectDisposedException"/> when the stream
    /// is disposed. A synchronous <c>Write</c> blocks with back pressure, as <see cref="Send(ReadOnlySpan{byte})"/>.
    /// <para>A message the peer sent with a raw send over <see cref="ChannelOptions.MaxReceiveMessageLength"/> is a gap in
    /// the byte stream: reads return every byte before it, then fail with <see cref="ReceiveLimitExceededException"/>, and
    /// every later read fails with it too (the bytes after a gap would be misframed for the protocol above). That read
    /// also resets the connection, as a socket closed with unread data does: the channel is closed, so the peer's sends
    /// (which would otherwise wait behind the refused message) end with <see cref="IicChannelClosedException"/> and the
    /// peer receives what this side sent before, then the end; this side's writes fail with the same
    /// <see cref="ReceiveLimitExceededException"/> from then on, and a <c>WriteAsync</c> waiting for room has failed with it
    /// when that read returns. <c>ReadAsync</c> and <c>WriteAsync</c> report this and the
    /// channel's other errors (<see cref="PeerDeadException"/>, <see cref="RingFaultException"/>) in their tasks.</para>
    /// </summary>
    /// <exception cref="ObjectDisposedException">The channel was disposed.</exception>
    public Stream AsStream()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        // Racing first calls agree on one stream (the loser's is dropped: it holds nothing but the channel).
        return _stream ?? Interlocked.CompareExchange(ref _stream, new IicStream(this), null) ?? _stream;
    }

    /// <summary>
    /// An <see cref="IDuplexPipe"/> over the channel, for System.IO.Pipelines protocols (the one Kestrel's IICFast
    /// connections use): a dedicated receive thread fills <see cref="IDuplexPipe.Input"/> from the ring (spinning under
    /// continuous traffic, parked when idle) and each flush of <see cref="IDuplexPipe.Output"/> is published on the flushing
    /// thread, in records of at most <see cref="MaxClaimLength"/>. The pipe owns the receive side: do not also receive from
    /// the channel or its <see cref="AsStream"/>. The peer's close completes the input; its death ends it with
    /// <see cref="PeerDeadException"/>, its reset with <see cref="IicChannelClosedException"/> (<see cref="IicChannelClosedException.PeerReset"/>),
    /// and a message over <see cref="ChannelOptions.MaxReceiveMessageLength"/> with
    /// <see cref="ReceiveLimitExceededException"/> (the bytes after the gap would be misframed), each only after the reader
    /// has had every byte received before it, also those it had not read yet when the end came (no read result says
    /// IsCompleted: the end is not a clean one); a corrupt ring ends it with <see cref="RingFaultException"/> at once. The read that throws it resets the
    /// connection as <c>Abort</c> does: the channel is closed, so the peer's sends end with
    /// <see cref="IicChannelClosedException"/> instead of waiting behind the refused message, output not yet sent is
    /// dropped, and the output's writes and flushes fail with the same exception; every later read throws it again. An
    /// application that completed the input will read no more, so a refused message resets at once, whether it came before
    /// the input's Complete or after. When the read (or Complete) that resets returns, every flush and write of the output
    /// has failed with the refusal, a flush waiting for room in the peer's ring included. Bytes received and not consumed
    /// when the application completes the input, and any that arrive after, reset the connection the same way, as TCP
    /// resets a connection closed with unread data (the reset's message says how many bytes went unread): the peer's sends end with <see cref="IicChannelClosedException"/> instead of waiting for room, output not yet
    /// sent is dropped, and the output's writes and flushes fail with an <see cref="IicChannelClosedException"/> that says
    /// so. Disposing the channel stops the pipe. The same pipe every call.
    /// </summary>
    /// <param name="options">Memory pool, back-pressure thresholds and scheduling; null means <see cref="IicPipeOptions.Default"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="InvalidOperationException">The channel is grouped, or its pipe was already made with other options.</exception>
    /// <exception cref="ObjectDisposedException">The channel was disposed.</exception>
    public IDuplexPipe AsDuplexPipe(IicPipeOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        options ??= IicPipeOptions.Default;
        if (_pipe is { } existing)
        {
            return existing.Options == options
                ? existing
                : throw new InvalidOperationException("This channel's duplex pipe was already made with other options; a channel has one pipe.");
        }
        var pipe = new IicDuplexPipe(this, options);
        if (Interlocked.CompareExchange(ref _pipe, pipe, null) is { } raced)
        {
            return raced.Options == options ? raced : throw new InvalidOperationException("This channel's duplex pipe was already made with other options; a channel has one pipe.");
        }
        return pipe.Start();
    }

    private IicDuplexPipe? _pipe;

    /// <summary>Closes this side. The peer receives what was already sent, then sees the end.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        ConnectTrace.Mark(ConnectStep.CloseStart, _endpoint.Side);
        TransportMetrics.Unregister(this);
        _endpoint.Dispose();
        _asyncReceive.Dispose();
        _sharedOwnership?.Release();
        _release?.Invoke();
        IicEventSource.Log.ChannelClosed(Options.Name, _endpoint.Side, Environment.ProcessId);
        ConnectTrace.Mark(ConnectStep.CloseEnd, _endpoint.Side);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
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
