using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// A dedicated background thread that waits on behalf of asynchronous receivers, so an awaiting ReceiveAsync holds no
/// thread of its own and never spins on a thread-pool thread. While traffic is continuous it polls its receivers' rings
/// on its own thread for a budget learned by the same rule as an adaptive <see cref="Waiter"/> (<see cref="SpinLearning"/>,
/// one per dispatcher thread: the time rule and the CPU rule, including contended mode when its receivers' peers share
/// its CPU), capped by the largest ceiling its receivers' strategies allow (<see cref="SpinCeilingOf"/>);
/// when nothing comes within the budget it arms their rings, announces sleep on their interrupt pages and waits on all
/// of them at once with futex_waitv (idle CPU ~0). Each dispatcher serves up to <see cref="Capacity"/> receivers; more
/// start more threads. A receiver that became ready is completed from here: its continuation goes to the thread pool,
/// or runs right here when the channel opted in with <see cref="ChannelOptions.UnsafePreferInlineCompletions"/>.
/// </summary>
internal sealed unsafe class InterruptDispatcher
{
    /// <summary>futex_waitv takes 128 words: one is the dispatcher's own control word.</summary>
    public const int Capacity = Futex.MaxWaitAnyCount - 1;

    private static readonly object s_lock = new();
    private static readonly List<InterruptDispatcher> s_dispatchers = [];
    /// <summary>The most a dispatcher polls in one round, whatever its receivers' strategies allow (BusySpin included).</summary>
    public static readonly long MaxCeilingTicks = Stopwatch.Frequency / 1000; // 1 ms

    private static readonly long s_yieldAfterTicks = Stopwatch.Frequency / 50_000; // 20 µs of polling, as Waiter
    private static readonly long s_descheduledTicks = Stopwatch.Frequency / 20_000; // a yield that took 50 µs
    private static readonly long s_handoffTicks = Stopwatch.Frequency / 500_000; // a yield that took 2 µs let another thread run, as Waiter
    private static readonly long s_maxStampAgeTicks = Stopwatch.Frequency / 100; // a waker's stamp older than 10 ms is stale or hostile
    private static readonly bool s_singleCpu = Environment.ProcessorCount == 1;
    private const int SlowYieldLimit = 3; // slow yields in one round before the dispatcher parks (oversubscribed CPU)
    private const int PausesPerRound = 32; // between scans of the receivers while the CPU is ours
    private const int ContendedPausesPerRound = 4; // few when a peer shares our CPU: it gets the CPU soon after we start

    [ThreadStatic]
    private static InterruptDispatcher? t_current;

    private readonly ConcurrentQueue<AsyncReceiveSource> _incoming = new();
    private readonly List<Entry> _active = []; // this thread's receivers, each with whether this dispatcher armed its ring
    // While traffic flows the dispatcher spins through hiccups at least as long as an adaptive Waiter does (its
    // SpinBudget floor; capped per round by SpinCeilingOf), so the async path parks no more than the sync one.
    private readonly SpinLearning _learning = new(MaxCeilingTicks, (long)(WaitStrategy.Adaptive.SpinBudget.TotalSeconds * Stopwatch.Frequency), SpinLearning.ProbesFromEnvironment);
    private readonly MappedMemory _control;
    private readonly int* _controlWord;
    private int _load;
    private int _sleeping; // 1 while the dispatcher may be in (or about to enter) a futex wait: Register must wake it
    private int _state = (int)DispatcherState.Polling;
    private bool _contended; // _learning.Contended published for other threads (tests, diagnostics)
    private bool _hot; // traffic was seen since the last idle park: the next round polls first
    private long _roundStart;
    private long _lastCeiling;
    private long _polledCompletions;
    private long _parkedCompletions;
    private long _parks;
    private long _oversubscribedRounds;
    private long _handoffCompletions;
    private long _contendedParks;

    private InterruptDispatcher(int index)
    {
        // The control word lives in its own shared mapping: futex operations here are the shared (non-private) kind.
        _control = MappedMemory.MapAnonymous(4096);
        _controlWord = (int*)_control.Lease().Base; // leased for the process lifetime
        var thread = new Thread(Run) { IsBackground = true, Name = $"IIC interrupt dispatcher {index}" };
        thread.Start();
    }

    /// <summary>Whether the current thread is a dispatcher (running a receiver's inline continuation): it must not spin or block.</summary>
    public static bool OnDispatcherThread => t_current is not null;

    /// <summary>What the dispatcher is doing now (read by tests and by receivers deciding whether to spin themselves).</summary>
    public DispatcherState State => (DispatcherState)Volatile.Read(ref _state);

    /// <summary>Receivers completed while the dispatcher polled (no futex wait, no wake-up).</summary>
    public long PolledCompletions => Volatile.Read(ref _polledCompletions);

    /// <summary>Receivers completed after the dispatcher parked (futex_waitv).</summary>
    public long ParkedCompletions => Volatile.Read(ref _parkedCompletions);

    /// <summary>Times the dispatcher went to sleep in the kernel (with or without receivers).</summary>
    public long Parks => Volatile.Read(ref _parks);

    /// <summary>Polling rounds cut short because the CPU was oversubscribed.</summary>
    public long OversubscribedRounds => Volatile.Read(ref _oversubscribedRounds);

    /// <summary>Receivers completed right after a yield that let another thread run (the CPU rule's evidence that a peer shares this CPU).</summary>
    public long HandoffCompletions => Volatile.Read(ref _handoffCompletions);

    /// <summary>Parks begun in contended mode (including the periodic ones that let the kernel move this thread to an idle CPU).</summary>
    public long ContendedParks => Volatile.Read(ref _contendedParks);

    /// <summary>Whether the dispatcher takes its receivers' peers to share its CPU (<see cref="SpinLearning.Contended"/>).</summary>
    public bool Contended => Volatile.Read(ref _contended);

    /// <summary>The most a receiver with <paramref name="strategy"/> lets its dispatcher poll for it, in Stopwatch ticks.</summary>
    public static long SpinCeilingOf(WaitStrategy strategy) => strategy.Kind switch
    {
        WaitKind.Park => 0,
        WaitKind.BusySpin => MaxCeilingTicks,
        _ => Math.Min(MaxCeilingTicks, (long)(strategy.MaxSpinBudget.TotalSeconds * Stopwatch.Frequency)),
    };

    /// <summary>Hands <paramref name="source"/> to a dispatcher with room (its previous one if it has), starting one if none has.</summary>
    public static void Register(AsyncReceiveSource source)
    {
        var chosen = source.Dispatcher;
        if (chosen is null || !chosen.TryReserve())
        {
            chosen = ReserveAny();
            source.Dispatcher = chosen;
        }
        // Keep the window mapped until the dispatcher has dropped the source, whatever the channel does meanwhile.
        var added = false;
        source.Endpoint.Window.Memory.DangerousAddRef(ref added);
        chosen._incoming.Enqueue(source);
        chosen.Poke();
    }

    /// <summary>
    /// Makes the dispatcher run a round soon: a receiver registered, or one ended without it (cancelled, disposed), so
    /// it drops that one now instead of keeping its window and its slot while it sleeps until rung.
    /// </summary>
    internal void Poke()
    {
        // Dekker with the dispatcher's park: it sets _sleeping (full fence) before reading the control word, and we bump
        // the word (full fence) before reading _sleeping. Either it sees our increment (its futex wait returns at once,
        // and it drains the queue and drops ended receivers first anyway) or we see it sleeping and wake it. While it
        // polls, no syscall at all.
        Interlocked.Increment(ref *_controlWord);
        if (Volatile.Read(ref _sleeping) != 0)
        {
            Futex.Wake(_controlWord, 1);
        }
    }

    private bool TryReserve()
    {
        var load = Volatile.Read(ref _load);
        while (load < Capacity)
        {
            var seen = Interlocked.CompareExchange(ref _load, load + 1, load);
            if (seen == load)
            {
                return true;
            }
            load = seen;
        }
        return false;
    }

    private static InterruptDispatcher ReserveAny()
    {
        lock (s_lock)
        {
            foreach (var dispatcher in s_dispatchers)
            {
                if (dispatcher.TryReserve())
                {
                    return dispatcher;
                }
            }
            var created = new InterruptDispatcher(s_dispatchers.Count);
            s_dispatchers.Add(created);
            created.TryReserve(); // a new dispatcher has room
            return created;
        }
    }

    private void Run()
    {
        t_current = this;
        var targets = new FutexWaitTarget[Futex.MaxWaitAnyCount];
        while (true)
        {
            DrainIncoming();
            if (_hot && Poll())
            {
                continue;
            }
            ParkRound(targets);
        }
    }

    private void DrainIncoming()
    {
        while (_incoming.TryDequeue(out var source))
        {
            _active.Add(new Entry(source));
            _hot = true;
        }
    }

    /// <summary>
    /// Polls the receivers' rings (and the incoming queue) on this thread for the learned budget. True when a receiver
    /// completed (the caller starts the next round at once); false when the budget ran out, the CPU is oversubscribed or
    /// contended mode asks for a park, and the caller parks. The same plan as <see cref="Waiter"/>'s spin: offer the CPU
    /// after 20 µs, or at once and after every few pauses when the peers share this CPU (<see cref="SpinLearning"/>).
    /// </summary>
    private bool Poll()
    {
        var start = Stopwatch.GetTimestamp();
        _roundStart = start;
        var ceiling = SpinCeiling();
        var yieldAtOnce = false;
        var budget = ceiling <= 0 || s_singleCpu ? 0 : Math.Min(_learning.NextBudgetTicks(out yieldAtOnce), ceiling);
        if (budget <= 0)
        {
            return false;
        }
        Volatile.Write(ref _state, (int)DispatcherState.Polling);
        var pollUntil = start + budget;
        var yieldAfter = yieldAtOnce ? start : start + s_yieldAfterTicks;
        var pauses = yieldAtOnce ? ContendedPausesPerRound : PausesPerRound;
        var slowYields = 0;
        var afterHandoff = false; // the last yield took long enough that another thread ran in our place
        while (true)
        {
            var completed = 0;
            for (var i = _active.Count - 1; i >= 0; i--)
            {
                var source = _active[i].Source;
                if (!source.IsWaiting)
                {
                    Drop(i); // cancelled or disposed meanwhile
                }
                else if (source.Endpoint.IsReceiveReady)
                {
                    Drop(i);
                    completed++;
                    if (afterHandoff)
                    {
                        Volatile.Write(ref _handoffCompletions, _handoffCompletions + 1);
                    }
                    Volatile.Write(ref _polledCompletions, _polledCompletions + 1); // counted first: the continuation may read it
                    source.Complete(); // may run an opted-in continuation here; it can only add to _incoming
                }
            }
            if (completed > 0)
            {
                // Learnt after the completions: the clock read must not sit between the data's arrival and its delivery.
                _learning.LearnSpin(Stopwatch.GetTimestamp() - start, afterHandoff);
                PublishContended();
                return true;
            }
            afterHandoff = false;
            if (!_incoming.IsEmpty)
            {
                DrainIncoming(); // polled for from the next scan, within this round's budget
            }
            for (var i = 0; i < pauses; i++)
            {
                Pause();
            }
            var now = Stopwatch.GetTimestamp();
            if (now >= pollUntil)
            {
                return false;
            }
            if (now >= yieldAfter)
            {
                // Offer the CPU between rounds (sched_yield returns at once when nothing else wants it): on 2 vCPUs the
                // message we poll for, and the application threads, may need this one. A yield that took long let
                // another thread run (if the next scan finds data, most likely the peer, on our CPU: the CPU rule); several
                // very slow ones in one round show the CPU is oversubscribed and end the poll (the Waiter's rule).
                Thread.Yield();
                var took = Stopwatch.GetTimestamp() - now;
                afterHandoff = took > s_handoffTicks;
                if (took > s_descheduledTicks && ++slowYields >= SlowYieldLimit)
                {
                    Interlocked.Increment(ref _oversubscribedRounds);
                    return false; // the park that follows learns how late the data came
                }
            }
        }
    }

    private void PublishContended() => Volatile.Write(ref _contended, _learning.Contended);

    /// <summary>
    /// The largest poll ceiling of the receivers waiting now (their strategies'; 0 when all park at once). With none
    /// waiting (a pool continuation is about to register the next receive), that of the last ones: receivers that asked
    /// to park are never polled for, not even while the dispatcher waits for them to come back.
    /// </summary>
    private long SpinCeiling()
    {
        if (_active.Count == 0)
        {
            return _lastCeiling;
        }
        var ceiling = 0L;
        foreach (var entry in _active)
        {
            ceiling = Math.Max(ceiling, entry.Source.SpinCeilingTicks);
        }
        _lastCeiling = ceiling;
        return ceiling;
    }

    /// <summary>Arms every receiver, announces sleep on its page and waits on them all (and the control word) at once.</summary>
    private void ParkRound(FutexWaitTarget[] targets)
    {
        if (!_hot)
        {
            _roundStart = Stopwatch.GetTimestamp();
        }
        Interlocked.Exchange(ref _sleeping, 1); // full fence: Register's Dekker half
        var control = Volatile.Read(ref *_controlWord);
        if (!_incoming.IsEmpty)
        {
            Volatile.Write(ref _sleeping, 0);
            return; // the next round takes them (and polls for them)
        }
        var count = 0;
        targets[count++] = new FutexWaitTarget(_controlWord, control);
        // Until rung (a message, a peer's end, a new receiver, or a receiver that ended: cancel and Dispose Poke us),
        // or the shortest park timeout a receiver's strategy asked for.
        var sleepTimeout = Timeout.InfiniteTimeSpan;
        var completed = false;
        for (var i = _active.Count - 1; i >= 0; i--)
        {
            var source = _active[i].Source;
            var endpoint = source.Endpoint;
            if (!source.IsWaiting)
            {
                Drop(i);
                continue;
            }
            var page = endpoint.ReceivePage;
            var target = new ReceiveTarget(endpoint);
            Arm(i); // once per entry: a receiver still armed from the last round stays armed (its count is ours)
            if (page.PrepareSleep(ref target, out var sequence) != SleepCheck.Announced) // the same Dekker half as Waiter's (its announcement is a full fence)
            {
                page.ClearPending();
                Drop(i); // disarms
                completed = true;
                Volatile.Write(ref _parkedCompletions, _parkedCompletions + 1);
                source.Complete();
                continue;
            }
            targets[count++] = new FutexWaitTarget(page.SequenceWord, sequence);
            var parkTimeout = endpoint.Waiter.Strategy.ParkTimeout;
            if (parkTimeout != Timeout.InfiniteTimeSpan && (sleepTimeout == Timeout.InfiniteTimeSpan || parkTimeout < sleepTimeout))
            {
                sleepTimeout = parkTimeout;
            }
        }
        if (completed)
        {
            CancelArmed();
            Volatile.Write(ref _sleeping, 0);
            _hot = true;
            _learning.LearnPark(Stopwatch.GetTimestamp() - _roundStart); // came while we armed: a poll would have caught it
            return;
        }
        Volatile.Write(ref _state, (int)DispatcherState.Parked);
        Volatile.Write(ref _parks, _parks + 1);
        if (_learning.Contended)
        {
            Volatile.Write(ref _contendedParks, _contendedParks + 1);
        }
        var result = count == 1
            ? Futex.Wait(_controlWord, control, Timeout.InfiniteTimeSpan)
            : Futex.WaitAny(targets.AsSpan(0, count), sleepTimeout, out _);
        Volatile.Write(ref _sleeping, 0);
        Volatile.Write(ref _state, (int)DispatcherState.Polling);
        var woken = 0;
        var arrivedAt = 0L; // the waker's stamp of the wake that ended this park, 0 if none
        for (var i = _active.Count - 1; i >= 0; i--)
        {
            var source = _active[i].Source;
            var endpoint = source.Endpoint;
            var page = endpoint.ReceivePage;
            page.CancelSleep();
            page.ClearPending();
            if (!source.IsWaiting)
            {
                Drop(i); // disarms
            }
            else if (endpoint.IsReceiveReady)
            {
                if (woken++ == 0 && result == FutexWaitResult.Woken)
                {
                    arrivedAt = LearnWakeLatency(page.ReadRaisedAt());
                }
                Drop(i); // disarms
                Volatile.Write(ref _parkedCompletions, _parkedCompletions + 1); // counted first: the continuation may read it
                source.Complete();
            }
        }
        if (woken > 0)
        {
            _hot = true;
            // Judged by when the data arrived (the waker's stamp), not when this thread woke, as Waiter does: our own
            // wake-up latency is no part of the gap a poll would have had to cover.
            var end = Stopwatch.GetTimestamp();
            _learning.LearnPark((arrivedAt > _roundStart && arrivedAt <= end ? arrivedAt : end) - _roundStart);
        }
        else
        {
            // Nothing completed: real idleness (a timeout), or a poke (a receiver that ended: cancel, Dispose) or a wake
            // whose data another waiter of the channel took. None says traffic flows: the next round parks at once unless
            // a receiver registers (DrainIncoming). Since the dispatcher sleeps until rung, pokes are what ends most parks
            // of an idle dispatcher, and each used to start a poll round of up to 1 ms.
            _hot = false;
            if (result == FutexWaitResult.TimedOut)
            {
                _learning.LearnIdle((long)(sleepTimeout.TotalSeconds * Stopwatch.Frequency));
            }
        }
        PublishContended();
    }

    /// <summary>Learns from a real wake; <paramref name="raisedAt"/> is the waker's stamp, read once from the shared page. Returns it, or 0 when invalid.</summary>
    private long LearnWakeLatency(long raisedAt)
    {
        var latency = Stopwatch.GetTimestamp() - raisedAt;
        if (raisedAt <= 0 || latency <= 0 || latency >= s_maxStampAgeTicks)
        {
            return 0; // a hostile or stale stamp is ignored
        }
        _learning.LearnWakeLatency(latency);
        return raisedAt;
    }

    /// <summary>Undoes the sleep announcement and arming of the receivers left waiting (a round that completed one instead of parking).</summary>
    private void CancelArmed()
    {
        for (var i = 0; i < _active.Count; i++)
        {
            var endpoint = _active[i].Source.Endpoint;
            endpoint.ReceivePage.CancelSleep();
            endpoint.ReceivePage.ClearPending();
            Disarm(i);
        }
    }

    /// <summary>
    /// Arms entry <paramref name="index"/>'s ring unless this dispatcher did already (its arm is one of the endpoint's
    /// counted arms: a blocking receive on the same channel may hold another, and neither clears the other's).
    /// </summary>
    private void Arm(int index)
    {
        ref var entry = ref CollectionsMarshal.AsSpan(_active)[index];
        if (!entry.Armed)
        {
            entry.Source.Endpoint.ArmReceive(); // full fence
            entry.Armed = true;
        }
    }

    /// <summary>Withdraws this dispatcher's arm of entry <paramref name="index"/>'s ring, if it has one.</summary>
    private void Disarm(int index)
    {
        ref var entry = ref CollectionsMarshal.AsSpan(_active)[index];
        if (entry.Armed)
        {
            entry.Armed = false;
            entry.Source.Endpoint.DisarmReceive();
        }
    }

    /// <summary>Lets go of entry <paramref name="index"/>: withdraws our arm, then releases the window (still mapped for the disarm: our reference holds it).</summary>
    private void Drop(int index)
    {
        Disarm(index);
        var source = _active[index].Source;
        _active.RemoveAt(index);
        source.Endpoint.Window.Memory.DangerousRelease();
        Interlocked.Decrement(ref _load);
    }

    /// <summary>
    /// A receiver this dispatcher waits for. A source can be here twice (a cancelled wait not yet dropped, and the next
    /// wait of the same channel): each entry arms and announces once, and withdraws what it did, so the counts stay exact.
    /// </summary>
    private struct Entry(AsyncReceiveSource source)
    {
        public readonly AsyncReceiveSource Source = source;
        public bool Armed;
    }

    private static void Pause()
    {
        if (X86Base.IsSupported)
        {
            X86Base.Pause();
        }
        else if (ArmBase.IsSupported)
        {
            ArmBase.Yield();
        }
    }

    /// <summary>An async receiver's endpoint as a wait target, for the shared sleep handshake.</summary>
    private readonly struct ReceiveTarget(WindowEndpoint endpoint) : IWaitTarget
    {
        public bool IsReady => endpoint.IsReceiveReady;

        // The dispatcher arms and disarms per entry (Arm, Disarm above); PrepareSleep never calls these.
        public void Arm() => endpoint.ArmReceive();

        public void Disarm() => endpoint.DisarmReceive();
    }
}

/// <summary>What an <see cref="InterruptDispatcher"/> is doing.</summary>
internal enum DispatcherState
{
    /// <summary>Running: polling its receivers, completing them, or between rounds.</summary>
    Polling,

    /// <summary>Asleep in futex_waitv (or on its control word when it has no receivers).</summary>
    Parked,
}
