using System.IO.Pipelines;

namespace IIC.Transport;

/// <summary>
/// The one System.IO.Pipelines adapter over a channel, behind <see cref="IicChannel.AsDuplexPipe(IicPipeOptions?)"/>,
/// IIC.AspNetCore's Kestrel connections and its HTTP client streams. Two <see cref="Pipe"/>s over pooled memory:
/// <list type="bullet">
/// <item><b>Receive</b>: a dedicated thread per pipe takes messages out of the ring in place and copies them into the
/// input pipe (the one copy), then flushes with an inline writer scheduler, so the application's reader continues at
/// once (on this thread with <see cref="PipeScheduler.Inline"/>). It waits with the channel's own
/// <see cref="IIC.Hardware.Waiter"/>: under continuous traffic it spins and never enters the kernel, when idle it parks
/// on the futex (no CPU). It owns the channel's receive side.</item>
/// <item><b>Send</b>: the output pipe's reader is scheduled inline, so an application's flush publishes its bytes on the
/// flushing thread (one ring record, claimed in place, when it fits; records of <see cref="IicChannel.MaxClaimLength"/>
/// otherwise) and rings the peer's doorbell only if the peer sleeps. No thread, no hop. When the peer's ring is full the
/// send loop awaits room (<see cref="RoomWait"/>, woken by the peer's reader through the ring's "room armed" flag on the
/// process's one <see cref="RoomWaiter"/> thread): the flush returns at once, and once
/// <see cref="IicPipeOptions.OutputPauseThreshold"/> bytes wait unsent, flushes return pending
/// <see cref="System.Threading.Tasks.ValueTask{TResult}"/>s that complete when room comes (cancellable with their token).</item>
/// </list>
/// Kestrel's socket transport works the same way (SocketConnection's receive and send loops; inline scheduling with
/// <c>UnsafePreferInlineScheduling</c>), except that a socket's receive completes on an epoll thread and hops to the pool.
/// <para>Ends: the peer's close completes <see cref="Input"/> (reads return IsCompleted); a corrupt ring completes it
/// with that exception (translated by <see cref="TranslateError"/>); a refused message (over
/// <see cref="ChannelOptions.MaxReceiveMessageLength"/>), the peer's reset and the peer's death (round 25b) end the
/// receive thread, and <see cref="Input"/> throws the end once the application has had every byte before it
/// (<see cref="RefusalDeferringReader"/>), then resets the connection
/// (<see cref="Reset"/>; at once when the application completed <see cref="Input"/>: nobody will read it); any other exception that stops the receive thread (a bug or a misuse) completes it with that exception, is reported (<see cref="UnexpectedError"/>) and resets the connection (round 25). Bytes the
/// application had not consumed when it completed <see cref="Input"/> (<see cref="ResetUnreadAtComplete"/>, round 24),
/// and bytes that arrive after, reset it too, as a TCP socket closed with unread data does (<see cref="ResetUnread"/>). After a reset <see cref="Output"/> fails with the reset's error, translated
/// (<see cref="ResetFailingWriter"/>), or returns IsCompleted with <see cref="EndOutputWithoutError"/> (a Kestrel connection); disposing stops both and closes the channel. Whatever ends the receive thread
/// raises <see cref="ChannelEnded"/>, as Kestrel's socket transport fires ConnectionClosed when its receive loop ends.</para>
/// </summary>
internal sealed partial class IicDuplexPipe : IDuplexPipe, IAsyncDisposable
{
    private readonly IicChannel _channel;
    private readonly Pipe _input;
    private readonly RefusalDeferringReader _inputReader; // the application's side of _input (a refusal comes after the bytes before it)
    private readonly Pipe _output;
    private readonly ResetFailingWriter _outputWriter; // the application's side of _output (fails at once after a reset)
    private readonly CancellationTokenSource _stopSending = new();
    private readonly TaskCompletionSource _receiveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _receiveThread;
    private readonly RoomWait _roomWait;
    private readonly ReplySpin? _replySpin;
    private readonly Http2InlineReads? _http2InlineReads;
    private Task _sending = Task.CompletedTask;
    private int _started;
    private int _disposed;

    /// <summary>A pipe over <paramref name="channel"/>; it takes the channel over (disposing the pipe closes it). Call <see cref="Start"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (see <see cref="IicPipeOptions.Validate"/>).</exception>
    /// <exception cref="InvalidOperationException">The channel is grouped (its receive side belongs to its group).</exception>
    public IicDuplexPipe(IicChannel channel, IicPipeOptions? options = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        options ??= IicPipeOptions.Default;
        options.Validate();
        if (channel.Options.Grouped)
        {
            throw new InvalidOperationException("A grouped channel is received through its IicChannelGroup; make the channel without ChannelOptions.Grouped to use it as a pipe or stream.");
        }
        _channel = channel;
        Options = options;
        // Only a thread-pool reader can gain from HTTP/2 detection (an inline or custom scheduler is the caller's choice).
        _http2InlineReads = options.InlineHttp2Reads && options.ApplicationScheduler == PipeScheduler.ThreadPool ? new Http2InlineReads() : null;
        _input = new Pipe(options.InputPipeOptions(_http2InlineReads));
        _inputReader = new RefusalDeferringReader(_input.Reader, this);
        _output = new Pipe(options.OutputPipeOptions());
        _outputWriter = new ResetFailingWriter(_output.Writer, this);
        _roomWait = new RoomWait(channel.Endpoint, _stopSending.Token);
        _replySpin = options.ReplySpinLimit > TimeSpan.Zero ? new ReplySpin(options.ReplySpinLimit, channel.Endpoint.Waiter.Page, channel.Endpoint.Window.Memory) : null;
        _receiveThread = new Thread(ReceiveLoop) { IsBackground = true, Name = name ?? "IIC pipe receive " + channel.Options.Name };
    }

    /// <summary>The options.</summary>
    public IicPipeOptions Options { get; }

    /// <summary>The channel underneath.</summary>
    public IicChannel Channel => _channel;

    /// <summary>What the peer sent, in order.</summary>
    public PipeReader Input => _inputReader;

    /// <summary>What to send; each flush is published on the flushing thread.</summary>
    public PipeWriter Output => _outputWriter;

    /// <summary>
    /// Turns an exception that ends a direction (peer death, corrupt ring, a send after the peer closed, a refused message
    /// and the reset it causes, bytes nobody will read) into what the application's reads and flushes see (Kestrel wants
    /// <c>ConnectionResetException</c>, with the original as its InnerException); null keeps it. A refusal or a reset is
    /// translated once, and every later read or flush throws that same instance.
    /// </summary>
    public Func<Exception, Exception>? TranslateError { get; init; }

    /// <summary>
    /// Called once, from the thread that saw it, when the connection ends for this side: the receive thread exits (the
    /// peer's close, death or fault, a refused message, bytes after the application completed <see cref="Input"/>,
    /// this side's Abort or disposal), or sending finds the channel ended or fails otherwise (<see cref="UnexpectedError"/>). Kestrel's socket transport fires
    /// ConnectionClosed the same way: whenever its receive loop ends, also when the application completed its input
    /// (before round 23 this pipe did not call it then, so Kestrel's ConnectionClosed waited for the disposal).
    /// </summary>
    public Action? ChannelEnded { get; init; }

    /// <summary>
    /// Set by a Kestrel connection (round 23): when the connection ends (the peer's close or death, a fault, a reset), the
    /// application's flushes and writes return a <see cref="FlushResult"/> with IsCompleted instead of throwing the
    /// translated error, as Kestrel's SocketConnection completes the transport's output without an error on a reset or
    /// close (only an unexpected error is passed on). Kestrel's TimingPipeFlusher logs any other flush exception as an
    /// unexpected error, so before this every client that went away during a response logged one. The end still reaches
    /// the application: <see cref="ChannelEnded"/> (Kestrel's ConnectionClosed, which aborts the request) and
    /// <see cref="Input"/>'s error. Off (the default), the output fails with the translated error, as before.
    /// </summary>
    public bool EndOutputWithoutError { get; init; }

    /// <summary>
    /// Called when something other than the channel's end (the peer's close or death, a corrupt ring, a refused message,
    /// this side's Abort, reset or disposal) stops a direction: a bug, or a misuse such as another thread sending on the
    /// channel of a pipe made with <see cref="ChannelOptions.SingleWriter"/>, or receiving on one made with
    /// <see cref="ChannelOptions.SingleReader"/>. The second argument says which (once per direction; on the thread that
    /// saw it: the flushing thread, or the receive thread). A Kestrel connection logs it.
    /// <list type="bullet">
    /// <item><see cref="PipeDirection.Send"/> (round 24): the pipe ends the connection (<see cref="Abort"/>;
    /// <see cref="ChannelEnded"/> is raised) and the output's next flush or write throws that exception, untranslated and
    /// also with <see cref="EndOutputWithoutError"/>, as Kestrel's SocketConnection logs an unexpected send error
    /// (ConnectionError) and completes its output with it. Before round 24 such an exception escaped the send loop: the
    /// output's reader was never completed, so flushes went on without sending and then never ended.</item>
    /// <item><see cref="PipeDirection.Receive"/> (round 25): the input is completed with that exception (reads throw it,
    /// untranslated), the connection is reset (<see cref="Reset"/>: the peer's sends end, the output fails with the same
    /// exception, or returns IsCompleted with <see cref="EndOutputWithoutError"/>) and <see cref="ChannelEnded"/> is
    /// raised, as SocketConnection.DoReceive logs ConnectionError, completes its input with the error and fires
    /// ConnectionClosed. Before round 25 only the input heard of it, and the channel stayed open: the peer's sends filled
    /// a ring nobody read and waited for room until this side was disposed.</item>
    /// </list>
    /// </summary>
    public Action<Exception, PipeDirection>? UnexpectedError { get; init; }

    /// <summary>Completes when the receive thread has exited.</summary>
    public Task ReceiveEnded => _receiveEnded.Task;

    /// <summary>Completes when the send loop has ended (tests, diagnostics).</summary>
    internal Task SendEnded => _sending;

    /// <summary>Whether the caller runs on the receive thread (an inline continuation), where waiting for the pipe would wait for itself.</summary>
    public bool OnReceiveThread => Thread.CurrentThread == _receiveThread;

    /// <summary>
    /// Set by a server (Kestrel's connection): the receive thread looks at the first received record for the HTTP/2
    /// client preface (<see cref="IicPipeOptions.InlineHttp2Reads"/>). A client's stream reports its first write
    /// instead (<see cref="ObserveFirstWrite"/>).
    /// </summary>
    public bool DetectHttp2OnReceive { get; init; }

    /// <summary>Whether the input's reader now continues inline on the receive thread because the connection speaks HTTP/2 (tests, diagnostics).</summary>
    internal bool ReadsInlineForHttp2 => _http2InlineReads?.IsInline == true;

    /// <summary>A client's first write (the HTTP/2 client preface, if it is one): switches the reader inline (<see cref="IicPipeOptions.InlineHttp2Reads"/>).</summary>
    internal void ObserveFirstWrite(ReadOnlySpan<byte> bytes) => _http2InlineReads?.Observe(bytes);

    /// <summary>The receive thread's first record (<see cref="DetectHttp2OnReceive"/>): before it reaches the input pipe.</summary>
    internal void ObserveFirstRecord(ReadOnlySpan<byte> record) => _http2InlineReads?.Observe(record);

    /// <summary>The receive thread's spin-for-reply policy, null when <see cref="IicPipeOptions.ReplySpinLimit"/> is zero (tests, diagnostics).</summary>
    internal ReplySpin? ReplySpin => _replySpin;

    /// <summary>The receive thread (tests watch its lifecycle).</summary>
    internal Thread ReceiveThread => _receiveThread;

    /// <summary>Starts the receive thread and the send loop (once).</summary>
    public IicDuplexPipe Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            _sending = SendLoopAsync();
            _receiveThread.Start();
        }
        return this;
    }

    /// <summary>
    /// Ends the connection now (Kestrel's Abort): sending stops, the channel closes (the peer sees the end, the receive
    /// thread wakes and exits). Anything not yet sent is dropped, as with a socket's abort.
    /// </summary>
    public void Abort()
    {
        _stopSending.Cancel();
        _output.Reader.CancelPendingRead();
        _replySpin?.Stop();
        _channel.Dispose();
    }

    /// <summary>
    /// Finishes: completes both application ends, lets the send loop publish what was flushed (waiting at most
    /// <paramref name="drainTimeout"/> for a peer that stopped reading, then dropping it; not at all once the connection
    /// was reset: a refused message not yet read, or bytes arriving after the input was completed, reset it at once and
    /// drop what is unsent, as closing a TCP socket with unread data does), closes the channel (which wakes
    /// a parked receive thread), and, with <paramref name="waitForReceiveThread"/>, waits for the receive thread to exit.
    /// A synchronous Dispose must not wait for it: the receive thread may be running an inline reader that waits for a
    /// lock the disposing thread holds (SocketsHttpHandler disposes its stream under its connection lock). Completing the
    /// input with bytes received and not read resets the connection too (round 24), so no drain waits then either.
    /// <paramref name="drainTimeout"/> is checked before anything changes (round 24: a bad one was thrown by the wait, after
    /// both application ends had been completed, and the channel stayed open). Only the first call drains.
    /// </summary>
    /// <param name="drainTimeout">How long to wait for the send loop to publish what was flushed; <see cref="Timeout.InfiniteTimeSpan"/> waits as long as it takes.</param>
    /// <param name="waitForReceiveThread">Whether to wait for the receive thread to exit (never from the receive thread itself).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="drainTimeout"/> is negative (other than infinite) or longer than the wait allows (about 49 days).</exception>
    public async ValueTask DisposeAsync(TimeSpan drainTimeout, bool waitForReceiveThread = true)
    {
        CheckDrainTimeout(drainTimeout);
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _output.Writer.CompleteAsync().ConfigureAwait(false);
            // The application's side, so a refusal nobody read resets now and the drain below does not wait for a peer
            // stuck behind it (round 23: completing the inner reader skipped that, and the drain waited drainTimeout).
            await _inputReader.CompleteAsync().ConfigureAwait(false);
            try
            {
                await _sending.WaitAsync(drainTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _stopSending.Cancel();
                await _sending.ConfigureAwait(false);
            }
            if (s_printStatistics)
            {
                PrintStatistics();
            }
            _input.Writer.CancelPendingFlush(); // a receive thread paused by back pressure
            _replySpin?.Stop(); // a receive thread spinning for a reply returns at once instead of at the end of its budget
            _channel.Dispose(); // wakes a parked receive thread: it sees the disposal and exits
            if (Volatile.Read(ref _started) == 0)
            {
                _receiveEnded.TrySetResult();
            }
        }
        if (waitForReceiveThread && !OnReceiveThread)
        {
            await _receiveEnded.Task.ConfigureAwait(false);
        }
        // The token source holds no timer and is not disposed: a late Abort may still cancel it harmlessly.
    }

    /// <summary>
    /// How long <see cref="DisposeAsync()"/>, a <see cref="DuplexPipeStream"/>'s disposal and a Kestrel connection's
    /// disposal wait for the send loop to publish what was flushed to a peer that stopped reading: 5 s, then what is
    /// unsent is dropped. Kestrel's socket transport waits for its send loop without a bound of its own (the server's
    /// shutdown timeout aborts what remains); a pipe also serves clients and plain pipe users, which have no such timeout.
    /// </summary>
    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <see cref="DisposeAsync(TimeSpan, bool)"/> with <see cref="DefaultDrainTimeout"/> (5 s), waiting for the receive
    /// thread: what was flushed is published unless the peer reads nothing for 5 s, or the connection was reset.
    /// </summary>
    public ValueTask DisposeAsync() => DisposeAsync(DefaultDrainTimeout);

    /// <summary>The drain's wait (Task.WaitAsync) takes -1 ms or 0 to 2^32 - 2 ms: anything else is refused before the disposal starts.</summary>
    private static void CheckDrainTimeout(TimeSpan drainTimeout)
    {
        var milliseconds = (long)drainTimeout.TotalMilliseconds;
        if (drainTimeout != Timeout.InfiniteTimeSpan && (milliseconds < 0 || milliseconds > uint.MaxValue - 1))
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), drainTimeout,
                "The drain timeout must be Timeout.InfiniteTimeSpan or between 0 and about 49 days; 0 drops what was not sent yet at once, a few seconds is the usual choice (DefaultDrainTimeout, 5 s).");
        }
    }

    private int _channelEndedSignalled;
    private Exception? _resetError; // what the application's output sees after a reset (Reset), translated

    /// <summary>Diagnostics: with IIC_PIPE_STATS=1 each pipe prints its spin-for-reply counts to stderr when disposed.</summary>
    private static readonly bool s_printStatistics = Environment.GetEnvironmentVariable("IIC_PIPE_STATS") == "1";

    /// <summary>
    /// IIC_PIPE_STATS=1: this pipe's records each way, the receive thread's batches (flushes into the input pipe), the
    /// doorbells this side rang and skipped, and the receive thread's parks and spin hits: divided by the calls made, how
    /// many ring records and kernel wake-ups each request/response costs.
    /// </summary>
    private void PrintStatistics()
    {
        // This side's own counters only (GetStatistics also reads the outgoing ring's occupancy, in a window the peer's
        // close may have had unmapped by now).
        var endpoint = _channel.Endpoint;
        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{_receiveThread.Name}: records sent {endpoint.MessagesSent} ({_directWrites} direct), received {endpoint.MessagesReceived} in {_receiveBatches} batches; doorbells rung {endpoint.Doorbell.SignalsRaised}, skipped {endpoint.Doorbell.SignalsSuppressed}; receive thread parks {endpoint.Waiter.Parks}, spin hits {endpoint.Waiter.SpinHits}; HTTP/2 reads inline: {ReadsInlineForHttp2}"));
        if (_replySpin is { } spin)
        {
            Console.Error.WriteLine(spin.Describe(_receiveThread.Name));
        }
    }

    private void SignalChannelEnded()
    {
        if (Interlocked.Exchange(ref _channelEndedSignalled, 1) == 0)
        {
            ChannelEnded?.Invoke();
        }
    }

    /// <summary>The error the connection was reset with (<see cref="Reset"/>, translated), null before.</summary>
    internal Exception? ResetError => Volatile.Read(ref _resetError);

    /// <summary>
    /// Bytes came in that nobody will read: a refused message the application's read met after every byte before it
    /// (<see cref="RefusalDeferringReader"/>), one that arrived before or after the application completed
    /// <see cref="Input"/>, or any bytes after that Complete (<see cref="ResetUnread"/>). The connection is reset as
    /// <see cref="Abort"/> does, as TCP resets a connection closed with unread data (RFC 1122 4.2.2.13), so the peer's
    /// sends, which would wait for room in a ring no one reads any more, end with <see cref="IicChannelClosedException"/>
    /// at once instead of when this side is disposed, and a drain in <see cref="DisposeAsync(TimeSpan, bool)"/> ends.
    /// Before this returns, <see cref="Output"/>'s flushes and writes fail with <paramref name="error"/> (already
    /// translated), a flush waiting for room among them (<see cref="ResetFailingWriter"/>). Once; from any thread.
    /// </summary>
    internal void Reset(Exception error)
    {
        // Set before anything else (a full fence): the writer's check and the send loop's end read it.
        if (Interlocked.CompareExchange(ref _resetError, error, null) is not null)
        {
            return;
        }
        _outputWriter.FailWaitingFlush(error);
        _channel.Endpoint.ResetOnClose(); // the peer's input fails with PeerReset instead of ending cleanly (round 25)
        Abort();
        SignalChannelEnded();
    }

    /// <summary>
    /// The receive thread's flush found <see cref="Input"/> completed: the <paramref name="bytes"/> it just took from the
    /// ring, and whatever follows them, will never be read. Kestrel's socket transport stops receiving there and fires
    /// ConnectionClosed, and the socket it later closes with those bytes unread sends a reset (Winsock resets at once
    /// when data arrives after shutdown(SD_RECEIVE)); the peer's send learns of it instead of waiting. So does this one's.
    /// </summary>
    private void ResetUnread(long bytes) => Reset(Translate(new IicChannelClosedException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"The connection was reset: {bytes} bytes arrived after the application completed the pipe's input, and nobody would read them. As a TCP socket closed with unread data does, the pipe closed the channel: the peer's sends end with IicChannelClosedException and output not yet sent was dropped. Complete the input only once the peer has nothing more to send, or read and discard what it still sends."))));

    /// <summary>
    /// The application completed <see cref="Input"/> with <paramref name="bytes"/> received and not consumed
    /// (<see cref="RefusalDeferringReader"/>): as a TCP socket closed with data in its receive buffer resets the
    /// connection (RFC 1122 4.2.2.13; Linux's tcp_close sends a RST when data was unread), so does this pipe, at once, and
    /// the peer's sends end with <see cref="IicChannelClosedException"/> (round 24: before, only bytes that arrived after
    /// the Complete reset it, so whether the peer learned its bytes went unread depended on when they arrived).
    /// </summary>
    internal void ResetUnreadAtComplete(long bytes) => Reset(Translate(new IicChannelClosedException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"The connection was reset: the application completed the pipe's input with {bytes} bytes received and not read. As a TCP socket closed with unread data does, the pipe closed the channel: the peer's sends end with IicChannelClosedException and output not yet sent was dropped. Read the input to its end (or until the peer has nothing more to send) before completing it."))));

    /// <summary>What the application sees of <paramref name="e"/> (<see cref="TranslateError"/>).</summary>
    internal Exception Translate(Exception e) => TranslateError is { } translate ? translate(e) : e;
}
