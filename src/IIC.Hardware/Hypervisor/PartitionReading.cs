using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Who reads the control socket. A background thread does, except while a caller waits for an answer (Connect,
/// Listen, Attach) or a connection (Accept): then that caller reads the socket itself, so the reply wakes the thread
/// that needs it directly instead of waking the background reader, which then wakes the caller (a second kernel
/// wake-up on every connect and accept, ~30-50 µs each on a VM whose other CPU is idle). The background reader waits
/// with epoll, edge-triggered, and a caller that takes the socket switches the background reader's interest off
/// (so the reply wakes nobody else) and back on when it leaves (which reports at once whatever arrived meanwhile).
/// Messages are received and dispatched one at a time under one lock, in arrival order, by whichever thread reads;
/// no thread waits in the kernel while it holds that lock (every receive under it is <c>MSG_DONTWAIT</c>).
/// </summary>
public sealed partial class Partition
{
    private readonly Lock _readLock = new(); // one receive + dispatch at a time, in arrival order
    private readonly byte[] _readBuffer = new byte[ControlProtocol.MaxMessageSize]; // under _readLock
    private readonly List<FileDescriptor> _readDescriptors = []; // under _readLock
    private Epoll? _readEpoll; // the background reader's wait: the socket, edge-triggered (null: callers never read)
    private EventFd? _callerKick; // tells the reading caller to look again at what it waits for
    private int _callerReading; // 1 while a caller reads the socket
    private bool _ended; // under _readLock: the socket hung up or failed
    private const int DrainLimit = 64; // messages a reading caller takes after its own before it returns

    private enum ReadResult
    {
        Message,
        Empty,
        Ended,
    }

    /// <summary>How a caller's wait as the reader ended.</summary>
    internal enum CallerRead
    {
        /// <summary>Another caller reads the socket: wait the usual way (the reader completes or delivers what you wait for).</summary>
        NotReader,

        /// <summary>What the caller waits for is there (or the socket ended: it failed everything waiting).</summary>
        Done,

        /// <summary>The deadline passed first.</summary>
        TimedOut,
    }

    /// <summary>Tests: called under the read lock with each received message before its dispatch (a test holds a dispatch there).</summary>
    internal static Action<Partition>? s_beforeDispatch;

    /// <summary>Tests: a partition attached on this thread makes no epoll or kick, as if it were out of descriptors.</summary>
    [ThreadStatic]
    internal static bool t_attachWithoutReadingKicks;

    /// <summary>
    /// Makes the background reader's epoll and the caller's kick; without them (out of descriptors, or kernel memory,
    /// for the two descriptors after the socket's) the background thread alone reads, waiting in poll (<see cref="PollLoop"/>).
    /// </summary>
    private void CreateReadingKicks()
    {
        if (t_attachWithoutReadingKicks)
        {
            return;
        }
        try
        {
            _callerKick = new EventFd();
            _readEpoll = new Epoll();
            _readEpoll.Add(_socket.Descriptor, 0, edgeTriggered: true);
        }
        catch (NativeException)
        {
            _readEpoll?.Dispose();
            _callerKick?.Dispose();
            _readEpoll = null;
            _callerKick = null;
        }
    }

    /// <summary>
    /// How long a caller waiting for the answer to a request spins (receiving without waiting, yielding the CPU in
    /// between) before it sleeps in poll: the hypervisor answers a Connect within a few tens of microseconds once it
    /// runs, and a caller that is still awake then takes the answer without a kernel wake-up of its own (30-50 µs on a
    /// VM whose other CPU idles; TCP's loopback connect has none). Bounded, so a request that waits (a service not
    /// offered yet) sleeps after it; cut short on a busy CPU (SpinRead); none on a single CPU, where spinning only
    /// delays the hypervisor.
    /// <c>IIC_CONTROL_SPIN_US</c> sets it in microseconds (0: sleep at once, the behaviour before), for A/B measurements.
    /// </summary>
    internal static long RequestSpinTicks { get; set; } = ParseRequestSpin(Environment.GetEnvironmentVariable("IIC_CONTROL_SPIN_US"));

    private const int DefaultRequestSpinMicroseconds = 100;

    /// <summary>
    /// How long a synchronous <c>Accept</c> that reads the control socket itself spins for its <c>Incoming</c> (the same
    /// spin as <see cref="RequestSpinTicks"/>'s, cut short the same way) before it sleeps in poll. A listener serving
    /// connections back to back (the main job's connect row) is back in <c>Accept</c> a few tens of microseconds before the
    /// next grant, and asleep it costs that grant a kernel wake-up of the listener's thread (round 13's quiet A/B: the main
    /// job's connect row within 1.5x of TCP in 22 of 26 interleaved rounds with a 300 µs accept spin and the caller's spin
    /// run to its end, against 9 of 26 for main; perf/RESULTS.md, "Round 13 (branch connect)"). <c>IIC_ACCEPT_SPIN_US</c> sets it in microseconds (default 300; 0: sleep at once, as before).
    /// </summary>
    internal static long AcceptSpinTicks { get; } = ParseSpin(Environment.GetEnvironmentVariable("IIC_ACCEPT_SPIN_US"), DefaultAcceptSpinMicroseconds);

    private const int DefaultAcceptSpinMicroseconds = 300;

    private static long ParseRequestSpin(string? text) => ParseSpin(text, DefaultRequestSpinMicroseconds);

    private static long ParseSpin(string? text, int defaultMicroseconds)
    {
        var microseconds = int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? Math.Min(value, 10_000)
            : defaultMicroseconds;
        return Environment.ProcessorCount > 1 ? microseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000 : 0;
    }

    /// <summary>
    /// Reads and dispatches the control socket on this thread until <paramref name="done"/> holds or the deadline
    /// passes, if no other caller reads it already; spins for up to <paramref name="spinTicks"/> (Stopwatch ticks)
    /// before it first sleeps (see <see cref="RequestSpinTicks"/>).
    /// </summary>
    internal CallerRead ReadUntil<TState>(Func<TState, bool> done, TState state, Deadline deadline, long spinTicks = 0)
    {
        if (_callerKick is not { } callerKick || _readEpoll is not { } readEpoll || Thread.CurrentThread == _reader
            || Interlocked.CompareExchange(ref _callerReading, 1, 0) != 0)
        {
            return CallerRead.NotReader;
        }
        try
        {
            UpdateSocketInterest(readEpoll); // readable off: the answer wakes this thread alone
        }
        catch (Exception e) when (e is NativeException or ObjectDisposedException)
        {
            ReturnReading(readEpoll);
            return CallerRead.NotReader;
        }
        try
        {
            if (spinTicks > 0)
            {
                SpinRead(done, state, deadline, spinTicks); // then done() holds (the answer came, or the socket ended and Lose failed it), or we sleep below
            }
            Span<PollEntry> entries = stackalloc PollEntry[2];
            while (!done(state))
            {
                // poll is level-triggered: what the background reader left unread is reported at once. One poll,
                // one receive per message, no receive that finds nothing: the fewest system calls per answer.
                var remaining = deadline.Remaining;
                if (remaining == TimeSpan.Zero)
                {
                    return CallerRead.TimedOut;
                }
                entries[0] = new PollEntry(_socket.Descriptor, PollEvents.Readable);
                entries[1] = new PollEntry(callerKick.Descriptor, PollEvents.Readable);
                ConnectTrace.Mark(ConnectStep.CallerSleeps);
                Poll.Wait(entries, remaining == Timeout.InfiniteTimeSpan || remaining > TimeSpan.FromHours(1) ? TimeSpan.FromHours(1) : remaining);
                ConnectTrace.Mark(ConnectStep.CallerWoke);
                if (entries[1].ReturnedEvents != PollEvents.None && !_stopReader)
                {
                    // Drained before looking at done() again: a later kick wakes the next poll. Once the reader is told to
                    // stop the kick stays set, for its epoll (whatever this caller waited for was failed by Dispose).
                    callerKick.TryRead(out _);
                }
                if (entries[0].ReturnedEvents != PollEvents.None)
                {
                    while (!done(state))
                    {
                        var result = ReadAvailable();
                        if (result == ReadResult.Ended)
                        {
                            return CallerRead.Done; // Lose failed every request and listener with the reason
                        }
                        if (result == ReadResult.Empty)
                        {
                            break;
                        }
                    }
                }
            }
            // Drain what else is there before handing the socket back: a grant counts against the hypervisor's
            // MaxQueuedGrantsPerPartition until this partition reads it, and the background reader wakes only after
            // we hand the socket back. Bounded: the background reader takes the rest.
            for (var drained = 0; drained < DrainLimit && ReadAvailable() == ReadResult.Message; drained++)
            {
            }
            ConnectTrace.Mark(ConnectStep.CallerDone);
            return CallerRead.Done;
        }
        catch (Exception e) when (e is NativeException or ObjectDisposedException)
        {
            return done(state) ? CallerRead.Done : CallerRead.TimedOut; // the socket was closed under us: Lose has answered
        }
        finally
        {
            ReturnReading(readEpoll);
        }
    }

    /// <summary>
    /// The reading caller's spin: receives without waiting, yielding the CPU between looks (the hypervisor's thread may
    /// have been woken onto this CPU), until <paramref name="done"/> holds or the spin ends. A yield that gave the CPU
    /// away for long (another thread ran here: the machine is busy) ends the spin after one more look: on a contended
    /// CPU a spinner goes to the back of the queue at every yield, while a sleeper woken by the answer is run promptly.
    /// </summary>
    private void SpinRead<TState>(Func<TState, bool> done, TState state, Deadline deadline, long spinTicks)
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var spinUntil = now + spinTicks;
        var contended = false;
        while (!done(state))
        {
            var result = ReadAvailable();
            if (result == ReadResult.Message)
            {
                continue;
            }
            if (result == ReadResult.Ended || contended || System.Diagnostics.Stopwatch.GetTimestamp() >= spinUntil || deadline.HasPassed)
            {
                return;
            }
            now = System.Diagnostics.Stopwatch.GetTimestamp();
            Thread.Yield();
            contended = s_stopOnContendedYield && System.Diagnostics.Stopwatch.GetTimestamp() - now > s_contendedYieldTicks;
        }
    }

    /// <summary>A yield longer than this (20 µs) ran another thread on our CPU: the spin stops.</summary>
    private static readonly long s_contendedYieldTicks = System.Diagnostics.Stopwatch.Frequency / 50_000;

    /// <summary>Whether such a yield ends the spin (<c>IIC_CONTROL_SPIN_CONTENDED=stop</c>, rounds 8-12); by default (round 13) the spin runs to its end.</summary>
    private static readonly bool s_stopOnContendedYield = Environment.GetEnvironmentVariable("IIC_CONTROL_SPIN_CONTENDED") == "stop";

    /// <summary>
    /// Tests: receives and dispatches one message if one is there, on the calling thread, as a caller reading for its
    /// own answer does (it takes the read lock, so it shows whether a waiting background reader holds that lock).
    /// </summary>
    internal bool ReadWaitingMessage() => ReadAvailable() == ReadResult.Message;

    /// <summary>Wakes the caller that reads the socket, so it looks again at what it waits for (a listener disposed, a reply another thread dispatched).</summary>
    internal void KickReadingCaller()
    {
        if (Volatile.Read(ref _callerReading) != 0)
        {
            try
            {
                _callerKick?.Signal();
            }
            catch (ObjectDisposedException)
            {
                // Closed: nobody reads any more.
            }
        }
    }

    private void ReturnReading(Epoll readEpoll)
    {
        Volatile.Write(ref _callerReading, 0);
        try
        {
            // Interest back on: if a message came after our last look, epoll reports it now and the background reader takes it.
            UpdateSocketInterest(readEpoll);
        }
        catch (Exception e) when (e is NativeException or ObjectDisposedException)
        {
            // The socket is closed: nothing more to read.
        }
    }

    /// <summary>
    /// The background reader: takes every message while no caller reads the socket, sends what waits in the send queue
    /// as far as the socket takes it, then waits for the next arrival (or, while messages wait, for room to send).
    /// </summary>
    private void ReadLoop()
    {
        if (_readEpoll is not { } epoll)
        {
            PollLoop();
            return;
        }
        Span<ulong> keys = stackalloc ulong[1];
        try
        {
            while (true)
            {
                // Edge-triggered: read until the socket is empty (or a caller took it: it reads the rest) before waiting.
                while (Volatile.Read(ref _callerReading) == 0)
                {
                    var result = ReadAvailable();
                    if (result == ReadResult.Ended)
                    {
                        return;
                    }
                    if (result == ReadResult.Empty)
                    {
                        break;
                    }
                    KickReadingCaller(); // a caller took the socket while we read: what we dispatched may be its answer
                }
                FlushQueued(); // messages the socket did not take (the wake-up may be its writability: PartitionSending.cs)
                epoll.Wait(keys, Timeout.InfiniteTimeSpan);
                ConnectTrace.Mark(ConnectStep.ReaderWoke);
                if (_stopReader)
                {
                    StopReading(); // Dispose could not shut the socket down and woke us with the kick (PartitionClosing.cs)
                    return;
                }
            }
        }
        catch (Exception e) when (e is NativeException or ObjectDisposedException)
        {
            EndReading(e);
        }
    }

    /// <summary>
    /// The background reader without an epoll (it could not be made at attach: CreateReadingKicks): waits for the socket
    /// in poll(2), which needs no descriptor of its own, holding no lock, then receives and dispatches what is there one
    /// message at a time under the read lock without waiting. No caller reads meanwhile (it would need the kick to be
    /// woken), so this thread takes every message, in arrival order; what waits in the send queue goes out
    /// through a sender thread of its own (PartitionSender.cs). Before round 21 it waited in a blocking recvmsg holding the read lock: whoever needed the
    /// lock waited until the hypervisor spoke, for good if it was stopped (NoReaderEpollTests).
    /// </summary>
    private void PollLoop()
    {
        try
        {
            while (true)
            {
                ReadResult result;
                while ((result = ReadAvailable()) == ReadResult.Message)
                {
                }
                if (result == ReadResult.Ended)
                {
                    return;
                }
                // Woken by a message, or by the hang-up (Dispose or Lose shut the socket down: the receive then reads it).
                Poll.WaitOne(_socket.Descriptor, PollEvents.Readable, Timeout.InfiniteTimeSpan);
            }
        }
        catch (Exception e) when (e is NativeException or ObjectDisposedException)
        {
            EndReading(e);
        }
    }

    /// <summary>The background reader was told to end (the socket's shutdown failed): as on the hang-up, no read is made from here on.</summary>
    private void StopReading()
    {
        lock (_readLock)
        {
            _ended = true;
        }
        Lose("this partition detached");
    }

    /// <summary>The background reader's socket failed: no read is made from here on, and the hypervisor is lost.</summary>
    private void EndReading(Exception e)
    {
        lock (_readLock)
        {
            _ended = true;
        }
        Lose($"the control socket failed ({e.Message})");
    }

    /// <summary>Receives and dispatches one message if one is there, never waiting for one (the read lock is held only for this).</summary>
    private ReadResult ReadAvailable()
    {
        lock (_readLock)
        {
            if (_ended)
            {
                return ReadResult.Ended;
            }
            int received;
            _readDescriptors.Clear();
            try
            {
                if (!_socket.TryReceive(_readBuffer, _readDescriptors, TimeSpan.Zero, out received))
                {
                    return ReadResult.Empty;
                }
            }
            catch (IOException e) when (e is not NativeException && e.Message.Contains("MSG_CTRUNC", StringComparison.Ordinal))
            {
                RefuseTruncatedGrant(_readBuffer, e);
                return ReadResult.Message;
            }
            catch (Exception e) when (e is NativeException or IOException or ObjectDisposedException)
            {
                _ended = true;
                Lose($"the control socket failed ({e.Message})");
                return ReadResult.Ended;
            }
            if (received == 0)
            {
                _ended = true;
                Lose(_disposed != 0 ? "this partition detached" : "the hypervisor hung up (it stopped or died)");
                return ReadResult.Ended;
            }
            ConnectTrace.MarkMessage(ConnectStep.ControlReceived, _readBuffer.AsSpan(0, received));
            s_beforeDispatch?.Invoke(this);
            try
            {
                Dispatch(_readBuffer.AsSpan(0, received), _readDescriptors);
            }
            catch (InvalidDataException e)
            {
                IicEventSource.Log.ProtocolFault("hypervisor " + HypervisorName, HypervisorProcessId, e.Message);
                foreach (var descriptor in _readDescriptors)
                {
                    descriptor.Dispose();
                }
            }
            return ReadResult.Message;
        }
    }

    /// <summary>
    /// Raises PeerDied on a thread-pool thread, never on the thread that read the news: that thread (the partition's
    /// reader, the peer-death watcher, or a caller reading inside its Connect or Accept) is the one that would read
    /// the reply to any request a handler makes, so a handler that connects, listens or accepts would wait for itself.
    /// </summary>
    private void InvokePeerDied(PeerDiedEventArgs death)
    {
        if (PeerDied is null)
        {
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Partition.PeerDied?.Invoke(state.Partition, state.Death), (Partition: this, Death: death), preferLocal: false);
    }

    private void DisposeReadingKicks()
    {
        _readEpoll?.Dispose();
        _callerKick?.Dispose();
    }
}
