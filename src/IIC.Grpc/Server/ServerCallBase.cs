using Grpc.Core;
using IIC.Grpc.Protocol;

namespace IIC.Grpc.Server;

/// <summary>
/// A call on the server: its <see cref="ServerCallContext"/> (one object with the call, so a call allocates little),
/// and what the connection's reader thread tells it.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The token source is disposed in Finish, when the call ends; a call is not disposed by its users.")]
internal abstract partial class ServerCallBase : ServerCallContext, IStreamCall
{
    // Made only when needed (a deadline, or a handler asking for the token): most unary calls never need one, and making
    // and registering it was part of the ~23 µs a cold call spent opening (perf/RESULTS.md, issue 16).
    private CancellationTokenSource? _cancellation;
    private int _finished; // Finish ran: the token source (if any) is disposed
    private int _ended; // Finish began: the handler returned, its trailers go (or went)
    private readonly Timer? _deadlineTimer;
    private readonly string _method;
    private readonly string _host;
    private readonly DateTime _deadline;
    // Metadata.Empty (shared, read-only) for a call that carried no headers, as most do: its own mutable set is made only if
    // the handler asks (RequestHeadersCore), so opening a call allocates none (issue 16: the cold call's open was ~16 µs).
    private Metadata _requestHeaders;
    private Metadata? _responseTrailers;
    private AuthContext? _authContext;
    private Status _status;
    private int _deadlineExceeded;
    private int _clientGone;
    private int _resetByHandler;
    private int _responseHeadersSent;

    /// <summary>
    /// 1 while a handler's write runs its synchronous part (serializing, and sending or queuing its message: never a wait
    /// for the client): a second write meanwhile is refused, and Finish waits for it to leave before the trailers go.
    /// </summary>
    protected int WriteRunning;

    /// <summary>
    /// The last write's task when its message did not go at once (queued for the connection's sender, or deferred on the
    /// reader thread): no write until it completes, and trailers after it. Set before <see cref="WriteRunning"/> is cleared.
    /// </summary>
    protected Task? PendingWrite;

    /// <summary>Whether the handler has a response stream (server streaming, bidirectional): writes may race its return.</summary>
    protected abstract bool HasResponseStream { get; }

    protected ServerCallBase(ServerConnection connection, uint streamId, string method, Metadata requestHeaders, long timeoutMicroseconds)
    {
        Connection = connection;
        StreamId = streamId;
        _method = method;
        _host = connection.ServiceName;
        _requestHeaders = requestHeaders;
        var now = DateTime.UtcNow;
        // A timeout past DateTime.MaxValue (a client's deadline of nearly MaxValue, read a little later here) is none: the
        // sum would throw on the reader thread and close the connection under every call on it.
        if (timeoutMicroseconds >= 0 && timeoutMicroseconds < (long)(DateTime.MaxValue - now).TotalMicroseconds)
        {
            var timeout = TimeSpan.FromMicroseconds(timeoutMicroseconds);
            _deadline = now + timeout;
            // Our own timer rather than CancelAfter: it marks the deadline *before* the token fires. Token callbacks run
            // in reverse order of registration, so a flag set by a callback registered here would be set after the
            // handler's own (registered later) had already ended it, and the call reported Unknown instead of
            // DeadlineExceeded.
            EnsureCancellation();
            _deadlineTimer = DeadlineTimer.Start(static s => ((ServerCallBase)s!).OnDeadline(), this, timeout);
        }
        else
        {
            _deadline = DateTime.MaxValue;
        }
    }

    protected ServerConnection Connection { get; }

    public uint StreamId { get; }

    /// <summary>The request message being gathered from chunks (reader thread only).</summary>
    public MessageAssembler Assembler;

    /// <summary>1 while the call counts toward its connection's open calls (ServerConnection: set when opened, taken once when it ends).</summary>
    internal int CountsAsOpen;

    /// <summary>The call's span, duration and count (IIC.Grpc's telemetry), when something listens; else null.</summary>
    internal IIC.Grpc.Telemetry.ServerCallTelemetry? Telemetry;

    /// <summary>Whether the deadline passed (rather than the client cancelling).</summary>
    protected bool DeadlineExceeded => Volatile.Read(ref _deadlineExceeded) != 0;

    /// <summary>Whether the handler's run ended (<see cref="Finish"/> began): a message written now would come after the trailers.</summary>
    protected bool Ended => Volatile.Read(ref _ended) != 0;

    /// <summary>Whether the client cancelled or went away: nothing more is sent.</summary>
    protected bool ClientGone => Volatile.Read(ref _clientGone) != 0;

    /// <summary>
    /// Whether a token the handler gave a write (<c>WriteAsync(message, token)</c>) fired: the server cancelled the call, as
    /// Grpc.AspNetCore resets the stream then. Its status is <see cref="StatusCode.Cancelled"/> whatever the handler does after.
    /// </summary>
    protected bool ResetByHandler => Volatile.Read(ref _resetByHandler) != 0;

    /// <summary>The status of a call the handler cancelled through a write's token (<see cref="ResetByHandler"/>).</summary>
    protected static Status HandlerResetStatus => new(StatusCode.Cancelled, "Call canceled by the server: a token given to WriteAsync was cancelled.");

    /// <summary>
    /// A token the handler gave a write fired (on the thread that cancelled it): the server cancels the call, as
    /// Grpc.AspNetCore's write resets the stream (HttpContextStreamWriter: the token's registration calls CancelRequest).
    /// The call's own token fires, so the write (and any other wait of the call) ends with OperationCanceledException, and
    /// the trailers, when the handler ends, say Cancelled. A call already finished is left alone.
    /// </summary>
    protected void ResetFromHandlerToken()
    {
        if (Volatile.Read(ref _finished) == 0 && Interlocked.Exchange(ref _resetByHandler, 1) == 0)
        {
            CancelSafely();
        }
    }

    /// <summary>Whether the call's token fired (or would have: the client is gone), without making a token source for it.</summary>
    protected bool IsCancelled => ClientGone || Volatile.Read(ref _cancellation) is { IsCancellationRequested: true };

    /// <summary>One whole request message; the call owns its array from now on.</summary>
    public abstract void OnMessage(ReceivedMessage message, bool endStream);

    /// <summary>
    /// The single request, carried whole in the CallStart frame: a method that starts with one request and runs its
    /// handler inline deserializes it straight from <paramref name="payload"/> (in the ring, valid only during this
    /// call) and launches. False when the call takes the usual path (<see cref="OnMessage"/> with a copy).
    /// </summary>
    public virtual bool TryStartInPlace(ReadOnlySpan<byte> payload) => false;

    /// <summary>
    /// One whole request message of a streaming request, in one frame: deserialized straight from
    /// <paramref name="payload"/> (in the ring, valid only during this call) and queued for the handler. False when the
    /// call takes the usual path instead (<see cref="OnMessage"/> with a copy: a single-request method).
    /// </summary>
    public virtual bool TryAddInPlace(ReadOnlySpan<byte> payload, bool endStream) => false;

    /// <summary>The client sends no more messages.</summary>
    public abstract void OnHalfClose();

    /// <summary>Runs the handler on the thread pool.</summary>
    public abstract void Launch();

    /// <summary>
    /// The client cancelled, or its connection ended: cancel the handler's token (on the pool, not the reader thread, which
    /// must not run the handler's callbacks). The mark is visible first: until the pool runs the cancel, a write sees the
    /// client gone with its token not yet fired, and fails (<see cref="ClientGoneBeforeSent"/>) rather than report success.
    /// </summary>
    public void OnClientGone()
    {
        if (Interlocked.Exchange(ref _clientGone, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static call => call.CancelSafely(), this, preferLocal: false);
        }
    }

    /// <summary>
    /// What a write (a message or the response headers) that finds the client gone throws: nothing was sent. An
    /// <see cref="OperationCanceledException"/>, as a write in progress when the call is cancelled (Grpc.AspNetCore:
    /// "Request aborted while sending the message."); the callers wrap it as they wrap a cancelled wait.
    /// </summary>
    protected static OperationCanceledException ClientGoneBeforeSent()
        => new("The call was cancelled: its client cancelled or went away, and nothing more is sent to it.");

    private void CancelSafely()
    {
        // Whoever comes second of this and EnsureCancellation cancels: both publish with a full fence (the flag above,
        // the exchange there) before reading the other's, so a token made after the client left is cancelled too.
        if (Volatile.Read(ref _finished) != 0)
        {
            return;
        }
        try
        {
            // No token yet: make one (EnsureCancellation sees ClientGone and cancels it), so its waits end the same way.
            (Volatile.Read(ref _cancellation) ?? EnsureCancellation()).Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the call already finished
        }
        catch (AggregateException e)
        {
            // A callback the handler registered on its token threw (ours never do): the token is cancelled all the same.
            // On this pool thread the exception would take the server process down with every call of every client (as
            // Kestrel logs what an aborted request's callbacks throw): logged, not lost.
            Connection.Log.CancellationCallbackFailed(e, _method);
        }
    }

    /// <summary>
    /// Whether <paramref name="token"/> is this call's own token (<see cref="ServerCallContext.CancellationToken"/>), whose
    /// cancellation already ends waits on the request stream (<see cref="OnTokenCancelled"/>): a wait on it needs no
    /// registration of its own.
    /// </summary>
    protected bool IsCallToken(CancellationToken token) => Volatile.Read(ref _cancellation) is { } source && token == source.Token;

    /// <summary>
    /// The token a handler's write waits with (for room in the ring, or for the send lock another call's write holds): the
    /// call's own token, which the client's Cancel, the deadline and the connection's end fire. Made on first need, as
    /// <see cref="ServerCallContext.CancellationToken"/>. A write racing the handler's return may come after Finish
    /// disposed the source: it gets a cancelled token then, so it never meets <see cref="ObjectDisposedException"/> and
    /// never waits (the call is over; its trailers went or the client left).
    /// </summary>
    protected CancellationToken WriteWaitToken
    {
        get
        {
            if (Volatile.Read(ref _finished) == 0)
            {
                try
                {
                    return EnsureCancellation().Token;
                }
                catch (ObjectDisposedException)
                {
                    // Finish disposed it between the look above and here.
                }
            }
            return new CancellationToken(canceled: true);
        }
    }

    /// <summary>The call's token source, made on first need (thread safe: a handler may ask while the reader thread cancels).</summary>
    private CancellationTokenSource EnsureCancellation()
    {
        if (Volatile.Read(ref _cancellation) is { } existing)
        {
            return existing;
        }
        var made = new CancellationTokenSource();
        if (Interlocked.CompareExchange(ref _cancellation, made, null) is { } raced)
        {
            made.Dispose();
            return raced;
        }
        // The token comes with the callback: the callback may run while Finish disposes the source on another thread
        // (the client's Cancel racing the handler's return), when asking the source for it would throw
        // ObjectDisposedException inside Cancel, out of CancelSafely on a pool thread, and take the server process down.
        made.Token.UnsafeRegister(static (s, token) => ((ServerCallBase)s!).OnTokenCancelled(token), this);
        if (ClientGone)
        {
            // The client left before anyone needed the token: it starts cancelled.
            CancelSafely();
        }
        return made;
    }

    /// <summary>The deadline passed: mark it (unless the client already left), then fire the token.</summary>
    private void OnDeadline()
    {
        if (!ClientGone)
        {
            Volatile.Write(ref _deadlineExceeded, 1);
        }
        CancelSafely();
    }

    /// <summary>The call's token (<paramref name="token"/>) fired (deadline or client gone): ends waits on the request stream.</summary>
    protected abstract void OnTokenCancelled(CancellationToken token);

    /// <summary>
    /// Sends the response headers once (explicitly, or empty headers are implied by the first message or the trailers).
    /// Null when they went at once; else a task that completes once they went, the frame queued for the connection's sender
    /// meanwhile: the handler's thread never waits for a client that does not read. Throws
    /// <see cref="OperationCanceledException"/> (<see cref="ClientGoneBeforeSent"/>) when the client is gone.
    /// </summary>
    protected Task? SendResponseHeaders(Metadata headers)
    {
        if (Interlocked.Exchange(ref _responseHeadersSent, 1) != 0)
        {
            throw new InvalidOperationException("Response headers can only be sent once per call.");
        }
        if (ClientGone)
        {
            // Nothing goes to a client that left; said, not reported sent (before round 25b it returned as if sent). The
            // call's token may not have fired yet: OnClientGone fires it later, on the pool.
            throw ClientGoneBeforeSent();
        }
        var builder = FrameBuilder.Rent();
        try
        {
            Frame.WriteHeader(builder.Reserve(Frame.HeaderLength), FrameType.ResponseHeaders, FrameFlags.None, StreamId);
            MetadataCodec.Write(builder, headers);
            // As a write: waiting for room (a client frozen or not reading), queued behind other calls' frames that wait for
            // it, ends when the call's token fires.
            if (Connection.IsCurrentReader)
            {
                Connection.SendFrame(builder.Written, WriteWaitToken); // deferred if it cannot go now (never waits there)
                return null;
            }
            return Connection.SendFrameOrQueue(builder.Written, WriteWaitToken);
        }
        finally
        {
            FrameBuilder.Return(builder);
        }
    }

    /// <summary>Marks the headers as implied (by a message or the trailers).</summary>
    protected void ImplyResponseHeaders() => Volatile.Write(ref _responseHeadersSent, 1);

    protected override DateTime DeadlineCore => _deadline;

    protected override Metadata RequestHeadersCore
        => ReferenceEquals(Volatile.Read(ref _requestHeaders), Metadata.Empty) ? MakeOwnEmptyHeaders() : _requestHeaders;

    /// <summary>A handler asked for headers the client sent none of: this call's own empty, writable set (once, thread safe).</summary>
    private Metadata MakeOwnEmptyHeaders()
    {
        var made = new Metadata();
        var prior = Interlocked.CompareExchange(ref _requestHeaders, made, Metadata.Empty);
        return ReferenceEquals(prior, Metadata.Empty) ? made : prior;
    }

    protected override CancellationToken CancellationTokenCore => EnsureCancellation().Token;

    protected override Metadata ResponseTrailersCore => _responseTrailers ??= [];

    protected override Status StatusCore
    {
        get => _status;
        set => _status = value;
    }

    protected override WriteOptions? WriteOptionsCore { get; set; }

    protected override AuthContext AuthContextCore => _authContext ??= new AuthContext(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options)
        => throw new NotSupportedException("Context propagation is not supported on the native IICFast path: pass the deadline and cancellation token in the CallOptions of the outgoing call.");

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders)
    {
        Task? queued;
        try
        {
            queued = SendResponseHeaders(responseHeaders ?? []);
        }
        catch (OperationCanceledException e)
        {
            return Task.FromException(HeadersCancelled(e));
        }
        return queued is null ? Task.CompletedTask : AfterQueuedHeaders(queued);
    }

    private static OperationCanceledException HeadersCancelled(OperationCanceledException e)
        => new("The call was cancelled while its response headers were being sent: its client cancelled, went away, the deadline passed, or a token given to a write was cancelled.", e, e.CancellationToken);

    private static async Task AfterQueuedHeaders(Task queued)
    {
        try
        {
            await queued.ConfigureAwait(false);
        }
        catch (OperationCanceledException e)
        {
            throw HeadersCancelled(e);
        }
    }
}
