using System.Diagnostics;
using System.Runtime.CompilerServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// The duplex pipe receive thread's spin policy: spin only while the peer owes a reply, never otherwise. A reply is
/// owed when this side flushed after it last received (a request went out, or a response that the next request follows).
/// Then the receive thread polls the ring for up to twice the learned flush-to-reply time (at most
/// <see cref="IicPipeOptions.ReplySpinLimit"/>), offering the CPU between rounds; when no reply is owed, or it is late, it
/// parks on the futex. A flush made while the receive thread is parked wakes it (off the critical path: the request is
/// already published and the peer is working on it), so the reply finds it spinning instead of paying a kernel wake-up.
/// So at most one thread spins per waiting direction, and none while the application's own threads are working on
/// what was received: on two CPUs the stacks' pool threads keep theirs. It spins only while a CPU is otherwise idle
/// (<see cref="SpareCpu"/>, probed every 10 µs of spinning): when threads queue for a CPU it stops and parks,
/// and spins again only after a back-off that doubles while the crowd lasts (1 ms to 100 ms).
/// How long to spin is learned (<see cref="ReplyTimeLearning"/>).
/// <para>Thread roles: <see cref="OnFlushed"/> runs on the flushing thread (the send loop); the rest on the receive thread.</para>
/// </summary>
internal sealed class ReplySpin : IDisposable
{
    private const int EwmaShift = 3;
    private static readonly long s_yieldAfterTicks = Stopwatch.Frequency / 50_000; // 20 µs of pure spinning, as Waiter
    private static readonly long s_minBudgetTicks = Stopwatch.Frequency / 100_000; // 10 µs
    private static readonly long s_minTrailingTicks = Stopwatch.Frequency / 200_000; // 5 µs
    private static readonly long s_maxTrailingTicks = Stopwatch.Frequency / 20_000; // 50 µs: the application is working meanwhile
    private static readonly long s_descheduledTicks = Stopwatch.Frequency / 20_000; // a yield that took 50 µs
    private static readonly long s_oversubscribedBackoffTicks = Stopwatch.Frequency / 10; // 100 ms without spinning
    private static readonly long s_firstCrowdedBackoffTicks = Stopwatch.Frequency / 1000; // 1 ms, doubling while crowded
    private static readonly long s_probeEveryTicks = Stopwatch.Frequency / 100_000; // a spare-CPU probe per 10 µs of spinning
    private const int SlowYieldLimit = 3; // slow yields in one spin before it gives up (as Waiter)
    private const int CrowdedProbeLimit = 4; // crowded probes in a row (10 µs apart within a spin, a yield after each; counted across spins): a crowd that lasts, not a pool worker's brief spin
    private readonly long _limitTicks;
    private readonly InterruptPage _page;
    private readonly IIC.Native.MappedMemory _memory;
    private readonly SpareCpu _spareCpu;
    private readonly ReplyTimeLearning _learning;
    private long _crowdedBackoffTicks;
    private int _crowdedProbes; // crowded probes in a row, across spins: a probe that finds a spare CPU resets it (receive thread)
    private long _lastFlush; // Stopwatch ticks of the last flush (written by the flushing thread)
    private long _lastReceive; // Stopwatch ticks of the last receipt (receive thread)
    private long _spunFor; // the flush the last spin was for: one spin per owed reply (receive thread)
    private long _replyFlush; // the flush whose reply is arriving (receive thread)
    private long _pieceGapTicks; // learned gap between the pieces of one reply (receive thread)
    private bool _trailing; // a piece of a reply arrived: one short spin for the next (receive thread)
    private long _noSpinUntil; // after an oversubscribed spin: park only, until then (receive thread)
    private int _parked; // 1 while the receive thread may be parked: a flush then wakes it
    private bool _wasParked; // the receive thread parked since it last received (receive thread)
    private volatile bool _stopped; // the pipe is ending: a spin in progress returns at once
    private volatile bool _spinning; // a spin is in progress (tests)

    public ReplySpin(TimeSpan limit, InterruptPage page, IIC.Native.MappedMemory memory, SpareCpu? spareCpu = null)
    {
        _memory = memory;
        _limitTicks = Math.Max(1, (long)(limit.TotalSeconds * Stopwatch.Frequency));
        _page = page;
        _learning = new ReplyTimeLearning(_limitTicks, s_minBudgetTicks);
        _spareCpu = spareCpu ?? new SpareCpu();
        _pieceGapTicks = s_maxTrailingTicks / 2;
        _crowdedBackoffTicks = s_firstCrowdedBackoffTicks;
    }

    /// <summary>Set by a flush to end the receive thread's park (the wait's target reads it after its fence).</summary>
    public StrongBox<int> WakeRequest { get; } = new();

    /// <summary>Whether a spin is in progress (tests).</summary>
    internal bool IsSpinning => _spinning;

    /// <summary>Spins ended by <see cref="Stop"/> (tests, diagnostics).</summary>
    public long StoppedSpins { get; private set; }

    /// <summary>
    /// The pipe is ending (Dispose, Abort): a spin in progress returns at the end of its current round of checks and no
    /// new one starts, so shutdown never waits for a spin's budget. Any thread.
    /// </summary>
    public void Stop() => _stopped = true;

    /// <summary>Whether the policy is on (a positive limit).</summary>
    public bool Enabled => _limitTicks > 0;

    /// <summary>Whether the receive thread is parked or about to park (tests).</summary>
    public bool IsParked => Volatile.Read(ref _parked) != 0;

    /// <summary>Flushes that woke the parked receive thread (tests, diagnostics).</summary>
    public long Wakes { get; private set; }

    /// <summary>Receive-thread spins that caught the reply.</summary>
    public long Hits { get; private set; }

    /// <summary>Receive-thread spins that ran out and parked.</summary>
    public long Misses { get; private set; }

    /// <summary>Times the CPUs were found oversubscribed by slow yields (a yield that let others run for 50 µs, three times in one spin): then it parks only, for 100 ms.</summary>
    public long OversubscribedSpins { get; private set; }

    /// <summary>Spins given up because threads queued for a CPU (<see cref="SpareCpu"/>): then it parks only, for a back-off that doubles while the crowd lasts.</summary>
    public long CrowdedSpins { get; private set; }

    /// <summary>Owed replies that arrived while the receive thread was parked (each cost a kernel wake-up on the reply's path, or came after the spin gave up).</summary>
    public long ParkedReplies { get; private set; }

    /// <summary>The learned reply time and spin budget (tests, diagnostics).</summary>
    internal ReplyTimeLearning Learning => _learning;

    /// <summary>
    /// The flushing thread, after publishing: a reply is owed now. If the receive thread parked, wake it to spin for the
    /// reply. Dekker with <see cref="ShouldPark"/>: our exchange (full fence) orders the flush time before the load of
    /// the parked flag; the receive thread's exchange orders its flag before its load of the flush time, so either it
    /// sees our flush and spins, or we see it parked and wake it.
    /// </summary>
    public void OnFlushed()
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.Exchange(ref _lastFlush, now);
        // Not when the receive thread would not spin anyway (replies slower than the limit, or backing off): a wake
        // that only parks again is a syscall for nothing. Those fields are the receive thread's; a stale read costs at
        // most one useless or one missed wake.
        if (Volatile.Read(ref _parked) != 0 && now >= Volatile.Read(ref _noSpinUntil) && Budget() > 0
            && Interlocked.Exchange(ref WakeRequest.Value, 1) == 0)
        {
            Wakes++; // racy by design across flushing threads: a diagnostic count
            // The page lives in the window: a Dispose on another thread may release the mapping right after our send,
            // so hold it for the wake (two interlocked operations on a path that makes a syscall anyway).
            var mapped = false;
            try
            {
                _memory.DangerousAddRef(ref mapped);
                _page.WakeAlways();
            }
            catch (ObjectDisposedException)
            {
                // the channel was disposed: its receive thread wakes and exits anyway
            }
            finally
            {
                if (mapped)
                {
                    _memory.DangerousRelease();
                }
            }
        }
    }

    /// <summary>
    /// The receive thread took messages out: learns how long the reply took if one was owed, or the gap between two
    /// pieces of one reply (HTTP/2 sends a response as several frames, flushed apart), and opens one trailing spin for
    /// the next piece.
    /// </summary>
    public void OnReceived()
    {
        var now = Stopwatch.GetTimestamp();
        var flushed = Volatile.Read(ref _lastFlush);
        if (flushed > _lastReceive)
        {
            _learning.Learn(now - flushed);
            if (_wasParked)
            {
                ParkedReplies++;
            }
            _replyFlush = flushed;
            _trailing = true;
        }
        else if (flushed > 0 && flushed == _replyFlush && now - _lastReceive < _limitTicks)
        {
            _pieceGapTicks += (now - _lastReceive - _pieceGapTicks) >> EwmaShift;
            _trailing = true;
        }
        _lastReceive = now;
        _wasParked = false;
    }

    /// <summary>
    /// The receive thread found nothing: spins while a reply is owed (up to its budget), or briefly for the next piece
    /// of a reply that started arriving, and returns true if something arrived; false when the caller should park (call
    /// <see cref="ShouldPark"/> first).
    /// </summary>
    public bool SpinForReply(WindowEndpoint endpoint)
    {
        var flushed = Volatile.Read(ref _lastFlush);
        var start = Stopwatch.GetTimestamp();
        if (start < _noSpinUntil || _stopped)
        {
            return false; // backing off (the CPUs were oversubscribed), or the pipe is ending
        }
        long until;
        var budget = Budget();
        if (flushed > _lastReceive && flushed > _spunFor && budget > 0)
        {
            _spunFor = flushed; // one spin per owed reply
            until = Math.Max(start, flushed) + budget;
        }
        else if (_trailing && flushed > 0 && flushed == _replyFlush)
        {
            _trailing = false; // one trailing spin per piece: the next receipt opens another
            until = _lastReceive + TrailingBudget();
            if (until <= start)
            {
                return false;
            }
        }
        else
        {
            return false; // nothing owed, spun for it already, or replies come later than a spin is worth
        }
        _spinning = true;
        try
        {
            return Spin(endpoint, start, until);
        }
        finally
        {
            _spinning = false;
        }
    }

    private bool Spin(WindowEndpoint endpoint, long start, long until)
    {
        var yieldAfter = start + s_yieldAfterTicks;
        var nextProbe = start; // the first probe after the first round of checks: a reply already there costs no read
        var slowYields = 0;
        while (true)
        {
            for (var i = 0; i < 64; i++)
            {
                if (endpoint.IsReceiveReady)
                {
                    Hits++;
                    _crowdedBackoffTicks = s_firstCrowdedBackoffTicks;
                    return true;
                }
                Thread.SpinWait(1);
            }
            if (_stopped)
            {
                StoppedSpins++;
                return endpoint.IsReceiveReady;
            }
            var now = Stopwatch.GetTimestamp();
            if (now >= until)
            {
                Misses++;
                _crowdedBackoffTicks = s_firstCrowdedBackoffTicks;
                return endpoint.IsReceiveReady;
            }
            if (now >= nextProbe)
            {
                nextProbe = now + s_probeEveryTicks;
                if (_spareCpu.Crowded())
                {
                    if (++_crowdedProbes >= CrowdedProbeLimit)
                    {
                        _crowdedProbes = 0;
                        // Threads queue for a CPU while we hold one: park (a kernel wake-up for this reply) rather than
                        // delay them, and spin again only after a back-off that doubles while the crowd lasts.
                        CrowdedSpins++;
                        Volatile.Write(ref _noSpinUntil, now + _crowdedBackoffTicks);
                        _crowdedBackoffTicks = Math.Min(2 * _crowdedBackoffTicks, s_oversubscribedBackoffTicks);
                        return endpoint.IsReceiveReady;
                    }
                    Thread.Yield(); // the queued thread may be on this CPU: let it run, then look again
                    continue;
                }
                _crowdedProbes = 0;
            }
            if (now >= yieldAfter)
            {
                Thread.Yield(); // the CPU to whoever is runnable here: the peer may be what we wait for
                if (Stopwatch.GetTimestamp() - now > s_descheduledTicks && ++slowYields >= SlowYieldLimit)
                {
                    // The CPUs are oversubscribed: spinning only takes them from the threads doing the work we wait
                    // for. Park only for a while (the parked wait learns nothing is lost but the wake-up).
                    OversubscribedSpins++;
                    Volatile.Write(ref _noSpinUntil, Stopwatch.GetTimestamp() + s_oversubscribedBackoffTicks);
                    return endpoint.IsReceiveReady;
                }
            }
        }
    }

    /// <summary>
    /// The receive thread is about to park: marks itself parked (full fence), then re-checks for a reply owed since
    /// (a flush that did not see the mark). False: a reply is owed and spinning pays, so spin instead.
    /// </summary>
    public bool ShouldPark()
    {
        Interlocked.Exchange(ref _parked, 1);
        var flushed = Volatile.Read(ref _lastFlush);
        if (flushed > _lastReceive && flushed > _spunFor && Budget() > 0 && Volatile.Read(ref WakeRequest.Value) == 0
            && Stopwatch.GetTimestamp() >= _noSpinUntil)
        {
            Volatile.Write(ref _parked, 0);
            return false;
        }
        return true;
    }

    /// <summary>The receive thread woke: clears the mark and any wake request.</summary>
    public void Unparked()
    {
        _wasParked = true;
        Volatile.Write(ref _parked, 0);
        Volatile.Write(ref WakeRequest.Value, 0);
    }

    /// <summary>Ends the receive thread's use of the policy (its proc file).</summary>
    public void Dispose() => _spareCpu.Dispose();

    /// <summary>The counts and the learned reply time, one line (diagnostics).</summary>
    public string Describe(string? name) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{name}: reply spin hits {Hits}, misses {Misses}, crowded {CrowdedSpins}, oversubscribed {OversubscribedSpins}, wakes by flushes {Wakes}, replies after a park {ParkedReplies}, learned reply {(double)_learning.ReplyTicks * 1e6 / Stopwatch.Frequency:0.0} µs, budget {(double)_learning.BudgetTicks * 1e6 / Stopwatch.Frequency:0.0} µs, payoff {_learning.Payoff * 100 / 1024} %");

    private long TrailingBudget() => Math.Min(Math.Clamp(2 * _pieceGapTicks, s_minTrailingTicks, s_maxTrailingTicks), _limitTicks);

    private long Budget() => _learning.BudgetTicks;
}
