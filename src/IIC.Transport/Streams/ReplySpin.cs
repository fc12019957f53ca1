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
/// what was received: on two CPUs the stacks' pool threads keep theirs.
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
    private const int SlowYieldLimit = 3; // slow yields in one spin before it gives up (as Waiter)
    private readonly long _limitTicks;
    private readonly InterruptPage _page;
    private readonly IIC.Native.MappedMemory _memory;
    private readonly RunQueueBrake _brake = new();
    private long _lastFlush; // Stopwatch ticks of the last flush (written by the flushing thread)
    private long _lastReceive; // Stopwatch ticks of the last receipt (receive thread)
    private long _spunFor; // the flush the last spin was for: one spin per owed reply (receive thread)
    private long _replyFlush; // the flush whose reply is arriving (receive thread)
    private long _pieceGapTicks; // learned gap between the pieces of one reply (receive thread)
    private bool _trailing; // a piece of a reply arrived: one short spin for the next (receive thread)
    private long _replyTicks; // learned flush-to-reply time (receive thread)
    private long _noSpinUntil; // after an oversubscribed spin: park only, until then (receive thread)
    private int _parked; // 1 while the receive thread may be parked: a flush then wakes it

    public ReplySpin(TimeSpan limit, InterruptPage page, IIC.Native.MappedMemory memory)
    {
        _memory = memory;
        _limitTicks = (long)(limit.TotalSeconds * Stopwatch.Frequency);
        _page = page;
        _replyTicks = _limitTicks / 4;
        _pieceGapTicks = s_maxTrailingTicks / 2;
    }

    /// <summary>Set by a flush to end the receive thread's park (the wait's target reads it after its fence).</summary>
    public StrongBox<int> WakeRequest { get; } = new();

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

    /// <summary>Times the CPUs were found oversubscribed (slow yields, or the receive thread queued for its CPU while it spun): then it parks only, for 100 ms.</summary>
    public long OversubscribedSpins { get; private set; }

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
            _replyTicks += (now - flushed - _replyTicks) >> EwmaShift;
            _replyFlush = flushed;
            _trailing = true;
        }
        else if (flushed > 0 && flushed == _replyFlush && now - _lastReceive < _limitTicks)
        {
            _pieceGapTicks += (now - _lastReceive - _pieceGapTicks) >> EwmaShift;
            _trailing = true;
        }
        _lastReceive = now;
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
        if (start < _noSpinUntil)
        {
            return false; // backing off: the CPUs were oversubscribed
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
        var yieldAfter = start + s_yieldAfterTicks;
        var slowYields = 0;
        while (true)
        {
            for (var i = 0; i < 64; i++)
            {
                if (endpoint.IsReceiveReady)
                {
                    Hits++;
                    Brake(start);
                    return true;
                }
                Thread.SpinWait(1);
            }
            var now = Stopwatch.GetTimestamp();
            if (now >= until)
            {
                Misses++;
                Brake(start);
                return endpoint.IsReceiveReady;
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
        Volatile.Write(ref _parked, 0);
        Volatile.Write(ref WakeRequest.Value, 0);
    }

    /// <summary>Ends the receive thread's use of the policy (its proc file).</summary>
    public void Dispose() => _brake.Dispose();

    /// <summary>After a spin that began at <paramref name="start"/>: stop spinning for a while if this thread queued for its CPU meanwhile.</summary>
    private void Brake(long start)
    {
        var now = Stopwatch.GetTimestamp();
        if (_brake.Oversubscribed(now - start))
        {
            OversubscribedSpins++;
            Volatile.Write(ref _noSpinUntil, now + s_oversubscribedBackoffTicks);
        }
    }

    /// <summary>The counts and the learned reply time, one line (diagnostics).</summary>
    public string Describe(string? name) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{name}: reply spin hits {Hits}, misses {Misses}, oversubscribed {OversubscribedSpins}, wakes by flushes {Wakes}, learned reply {(double)Volatile.Read(ref _replyTicks) * 1e6 / Stopwatch.Frequency:0.0} µs");

    private long TrailingBudget() => Math.Min(Math.Clamp(2 * _pieceGapTicks, s_minTrailingTicks, s_maxTrailingTicks), _limitTicks);

    private long Budget()
    {
        var budget = 2 * Volatile.Read(ref _replyTicks);
        return budget > _limitTicks ? 0 : Math.Max(budget, s_minBudgetTicks);
    }
}
