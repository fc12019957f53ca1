namespace IIC.Hardware;

/// <summary>
/// The hypervisor's unhurried work, off its event loop (issue 17 item 5, round 9): closing the windows of released
/// grants (the last close of a memfd frees its pages; since round 14 the hypervisor never maps a granted window, so
/// there is no munmap here any more, <see cref="HeldWindow"/>) and refilling the <see cref="WindowPool"/>
/// (memfd_create, ftruncate, seals, the first pages committed with pwrite). On the event
/// loop both ran right before or while the next connect was served; here one background thread does them, at
/// <c>SCHED_BATCH</c> (its wake-up never preempts a running thread: it runs when a CPU idles or at the next tick), so
/// the partitions and the event loop do not wait for it. Not <c>SCHED_IDLE</c>: a managed thread starved of CPU on a
/// busy box would stall every garbage collection of the process (which waits for it to reach a safe point) and any
/// thread waiting for a lock it holds (see <see cref="Native.SchedulingPolicy"/>).
/// <para>The event loop hands work over without a wake-up per grant: a released window is queued (the helper is woken
/// once <see cref="WakeAtRetired"/> wait), the pool is refilled when it runs low (half its target), and whatever is
/// left is handed over when the event loop has been idle for <see cref="IdleHandOver"/> (<see cref="HasUnsignalledWork"/>).
/// Bounded: past <see cref="MaxRetired"/> queued windows (a helper starved of CPU by spinning threads) the event loop
/// unmaps inline again, so memory and descriptors held for released grants stay bounded.</para>
/// <para>Since round 23 the event loop's spin after activity takes this work one unit per look where it would yield
/// (<see cref="TryWorkOne"/>): in back-to-back connects the loop spins through every cycle, and the helper is woken only for
/// what is left when the loop goes idle or a threshold is crossed.</para>
/// <para>A helper that falls behind (a box whose CPUs never idle) lets the pool run empty: then the event loop refills it
/// in its idle time as it did before, one window per turn, so grants do not all create their own.</para>
/// <para>Inline fallback: with <c>IIC_HYPERVISOR_HELPER=0</c> in the environment (A/B runs), or when the thread cannot be
/// started, every window is unmapped on the event loop as before and the loop refills the pool while idle.</para>
/// </summary>
internal sealed class HypervisorHelper
{
    /// <summary>Released windows that wait before the helper is woken for them.</summary>
    public const int WakeAtRetired = 8;

    /// <summary>Released windows queued at most; beyond, the event loop unmaps inline.</summary>
    public const int MaxRetired = 256;

    /// <summary>How long the event loop stays idle before it hands the queued work over.</summary>
    public static readonly TimeSpan IdleHandOver = TimeSpan.FromMilliseconds(10);

    private readonly object _gate = new(); // Monitor: the helper waits on it
    private readonly WindowPool _pool;
    private readonly Action<string> _log;
    private readonly Thread? _thread;
    private List<IDisposable> _retired = [];
    private List<IDisposable>? _spare = [];
    private bool _signalled = true; // the first fill of the pool
    private bool _waiting;
    private bool _stopping;
    private int _scheduledBatch = -1; // 1 once the thread runs at SCHED_BATCH, 0 if the kernel refused (tests, diagnostics)
    private long _retiredByHelper; // windows the helper thread retired (closed; tests, diagnostics)
    private long _retiredBySpin; // windows the event loop's spin retired (TryWorkOne; tests, diagnostics)

    public HypervisorHelper(WindowPool pool, string hypervisorName, Action<string> log, bool enabled)
    {
        _pool = pool;
        _log = log;
        if (!enabled)
        {
            return;
        }
        try
        {
            var thread = new Thread(Run) { IsBackground = true, Name = $"IIC hypervisor helper '{hypervisorName}'" };
            thread.Start();
            _thread = thread;
        }
        catch (OutOfMemoryException)
        {
            _log("the hypervisor's helper thread could not be started: released windows are unmapped on the event loop");
        }
    }

    /// <summary>Whether the helper is on (<c>IIC_HYPERVISOR_HELPER=0</c> turns it off for A/B runs).</summary>
    public static bool EnabledByEnvironment { get; } = Environment.GetEnvironmentVariable("IIC_HYPERVISOR_HELPER") != "0";

    /// <summary>Whether a helper thread runs (false: the event loop does the work inline).</summary>
    public bool IsRunning => _thread is not null;

    /// <summary>1 when the helper thread runs at SCHED_BATCH, 0 when the kernel refused, -1 before it started (tests).</summary>
    public int ScheduledBatch => Volatile.Read(ref _scheduledBatch);

    /// <summary>Released windows the helper thread retired (closed) so far (not those retired inline; tests).</summary>
    public long RetiredByHelper => Interlocked.Read(ref _retiredByHelper);

    /// <summary>Released windows waiting for the helper now (tests).</summary>
    public int RetiredCount
    {
        get
        {
            lock (_gate)
            {
                return _retired.Count;
            }
        }
    }

    /// <summary>Work is queued that the helper was not woken for: the event loop hands it over when it goes idle.</summary>
    public bool HasUnsignalledWork
    {
        get
        {
            if (_thread is null)
            {
                return false;
            }
            lock (_gate)
            {
                if (_signalled || _stopping)
                {
                    return false;
                }
                if (_retired.Count > 0)
                {
                    return true;
                }
            }
            return _pool.NeedsRefill;
        }
    }

    /// <summary>
    /// A released grant's window (a <see cref="HeldWindow"/>; tests retire mapped <see cref="SharedWindow"/>s too):
    /// closed by the helper (or now, inline, without one or past the bound). The caller no longer uses it; nothing else
    /// in the hypervisor refers to it.
    /// </summary>
    public void Retire(IDisposable window)
    {
        var inline = _thread is null;
        var wake = false;
        if (!inline)
        {
            lock (_gate)
            {
                if (_stopping || _retired.Count >= MaxRetired)
                {
                    inline = true;
                }
                else
                {
                    _retired.Add(window);
                    wake = _retired.Count >= WakeAtRetired && !_signalled;
                }
            }
        }
        if (inline)
        {
            window.Dispose();
        }
        else if (wake)
        {
            Wake();
        }
    }

    /// <summary>
    /// Does one unit of the queued work on the calling thread (the event loop's spin, round 23): closes one released window
    /// if any waits, else makes one window for the pool if it wants one. The loop calls it between its looks while it spins
    /// after activity, where it would otherwise yield: that CPU time is the loop's anyway, and the helper then finds nothing
    /// to be woken for (on two CPUs its wake-ups and CPU, a fourth runnable thread beside the connector, the listener and the
    /// spinning loop, cost the connect row more than the work itself; perf/RESULTS.md, "Round 23 (branch connect)").
    /// </summary>
    /// <returns>Whether it did something (false: nothing waits, or the pool's refill was refused).</returns>
    public bool TryWorkOne()
    {
        IDisposable? window = null;
        lock (_gate)
        {
            if (!_stopping && _retired.Count > 0)
            {
                window = _retired[^1]; // under the lock: the helper swaps the list under it too
                _retired.RemoveAt(_retired.Count - 1);
            }
        }
        if (window is not null)
        {
            window.Dispose(); // the window's last user in this process: nothing else refers to it (Retire)
            Interlocked.Increment(ref _retiredBySpin);
            return true;
        }
        if (!_pool.NeedsRefill)
        {
            return false;
        }
        if (_pool.RefillOne() is { } refused)
        {
            _log($"the window pool stays at {_pool.Count}: {refused.Message} (grants create their windows themselves meanwhile)");
            return false;
        }
        return true;
    }

    /// <summary>Released windows the event loop's spin retired (closed) so far (<see cref="TryWorkOne"/>; tests, diagnostics).</summary>
    public long RetiredBySpin => Interlocked.Read(ref _retiredBySpin);

    /// <summary>A grant took a window from the pool: the helper is woken when the pool runs low.</summary>
    public void WindowTaken()
    {
        if (_thread is not null && _pool.IsLow)
        {
            Wake();
        }
    }

    /// <summary>Wakes the helper for whatever is queued (a futex wake only if it waits).</summary>
    public void Wake()
    {
        lock (_gate)
        {
            _signalled = true;
            if (_waiting)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    /// <summary>Stops the helper (after the window it is unmapping, if any) and unmaps every window still queued here.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        _thread?.Join();
        List<IDisposable> left;
        lock (_gate)
        {
            left = _retired;
            _retired = [];
        }
        foreach (var window in left)
        {
            window.Dispose();
        }
    }

    private void Run()
    {
        Volatile.Write(ref _scheduledBatch, Native.SchedulingPolicy.TrySetBatchForCurrentThread() ? 1 : 0);
        while (true)
        {
            List<IDisposable> batch;
            lock (_gate)
            {
                while (!_signalled && !_stopping)
                {
                    _waiting = true;
                    Monitor.Wait(_gate);
                    _waiting = false;
                }
                _signalled = false;
                batch = _retired;
                _retired = _spare ?? [];
                _spare = null;
            }
            for (var i = 0; i < batch.Count; i++)
            {
                if (Volatile.Read(ref _stopping))
                {
                    // Stopping: the rest goes back to the queue, which Stop unmaps on its own (normal-priority) thread,
                    // so a helper short of CPU cannot hold the hypervisor's shutdown.
                    lock (_gate)
                    {
                        _retired.AddRange(batch.Skip(i));
                    }
                    return;
                }
                batch[i].Dispose(); // close (a mapped window: munmap too): the window's last user in this process
                Interlocked.Increment(ref _retiredByHelper);
            }
            batch.Clear();
            lock (_gate)
            {
                _spare = batch; // the two lists alternate: no allocation per batch
            }
            if (Volatile.Read(ref _stopping))
            {
                return;
            }
            while (_pool.NeedsRefill)
            {
                if (_pool.RefillOne() is { } refused)
                {
                    _log($"the window pool stays at {_pool.Count}: {refused.Message} (grants create their windows themselves meanwhile)");
                    break;
                }
                if (Volatile.Read(ref _stopping))
                {
                    break;
                }
            }
        }
    }
}
