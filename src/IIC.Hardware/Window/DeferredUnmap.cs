using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Unmaps closed channels' windows on a background thread instead of on the thread that closes them. A window's
/// munmap costs 8-30 µs on this class of VM (page-table teardown, and a TLB-shootdown IPI to every other CPU that
/// runs a thread of the process: in a process that also hosts a spinning hypervisor loop, 25-30 µs; perf/RESULTS.md,
/// "Round 11 (branch connect)"), the largest single step of a channel's close, which TCP's close does not pay. The
/// closer still closes the window's descriptor and releases every reference of its own at once (the mapping is
/// unmapped when its last reference goes: <see cref="MappedMemory"/> is a SafeHandle), and the hypervisor is told
/// of the release at once; only the final munmap waits here.
/// <para>Hand-over without a wake per close, as the hypervisor's helper (docs/architecture.md): the thread is woken
/// when it is parked (the first close after a quiet spell) or when <see cref="Batch"/> windows wait; between those it
/// takes what waits every <see cref="IdleTimeout"/>, and parks once a whole timeout passed with nothing to do (an idle
/// process: no wake-ups at all). Bounded: past <see cref="MaxQueued"/> waiting windows the closer unmaps its own.</para>
/// <para>Bounded in bytes too (round 25): the windows waiting never hold more than <see cref="MaxHeldBytes"/> of mappings
/// (<c>IIC_UNMAP_MAX_MIB</c>, 512 MiB): a close whose window would take them past it unmaps on the closing thread, and
/// the thread is woken at once when they reach half of it, as by a batch. Before, only windows were counted: 64 large
/// windows (64 MiB ones: 4 GiB) could stay mapped, their pages pinned, for up to 50 ms, and 256 before a closer
/// unmapped its own. Default windows (two 1 MiB rings: a little over 2 MiB) reach the count's bound (64: about 130 MiB)
/// well before half of the bytes', so the connection cycle's batches are as in round 24.</para>
/// <para>Since round 14 a drain unmaps each run of adjacent windows with one munmap (<see cref="MappedMemory.CollectUnmaps"/>):
/// the kernel places consecutive windows side by side, so a batch of 16 takes about 2 calls instead of 16
/// (<c>IIC_UNMAP_COALESCE=0</c>: one per window).</para>
/// <para><c>IIC_DEFERRED_UNMAP=0</c> in the environment unmaps on the closing thread, as before (for A/B runs).</para>
/// </summary>
internal static class DeferredUnmap
{
    /// <summary>
    /// Windows waiting that wake the thread out of its timed wait (<c>IIC_UNMAP_BATCH</c>, for A/B runs). 64 since round 24:
    /// each wake is a sleep of this thread, a fourth runnable thread on two CPUs busy with a connection cycle, so fewer
    /// and larger batches (the munmaps coalesce per run of adjacent windows either way). In the connect row the unmap
    /// threads slept 0.16-0.21 times per cycle with 16 (and 10 ms), 0.035-0.041 with 64 (and 50 ms); 8 had woken it ~0.45
    /// times (round 11). The price: up to 64 closed windows' mappings (and their pages) held, for up to 50 ms.
    /// </summary>
    internal static int Batch { get; } = ParseKnob("IIC_UNMAP_BATCH", 64, 1, MaxQueued);

    /// <summary>Windows waiting beyond which a closer unmaps its own (bounds the address space held).</summary>
    internal const int MaxQueued = 256;

    /// <summary>
    /// How long the thread waits for a batch before it takes what waits anyway (and parks if nothing did); 50 ms since
    /// round 24 (10 before), so that a batch of <see cref="Batch"/> fills first at a connection cycle rate of a few
    /// thousand a second (<c>IIC_UNMAP_IDLE_MS</c>, for A/B runs).
    /// </summary>
    internal static readonly TimeSpan IdleTimeout = TimeSpan.FromMilliseconds(ParseKnob("IIC_UNMAP_IDLE_MS", 50, 1, 1000));

    /// <summary>
    /// The most bytes of mappings the windows waiting hold (<c>IIC_UNMAP_MAX_MIB</c>, 1 to 65536 MiB; 512 MiB): a close
    /// whose window would take them past it unmaps its own, and half of it wakes the thread at once. Tests set it.
    /// </summary>
    internal static long MaxHeldBytes { get; set; } = (long)ParseKnob("IIC_UNMAP_MAX_MIB", 512, 1, 65536) << 20;

    private static int ParseKnob(string name, int defaultValue, int min, int max)
        => int.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? Math.Clamp(value, min, max)
            : defaultValue;

    /// <summary>Whether closes hand their unmap to the thread (<c>IIC_DEFERRED_UNMAP=0</c>: unmap on the closing thread).</summary>
    internal static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("IIC_DEFERRED_UNMAP") != "0";

    private static readonly System.Collections.Concurrent.ConcurrentQueue<MappedMemory> s_queue = new();
    private static readonly AutoResetEvent s_signal = new(false); // no spinning wait (SemaphoreSlim's spins with sched_yield: ~25 per wait)
    private static readonly Lock s_startLock = new();
    private static Thread? s_thread;
    private static int s_count; // windows queued and not yet taken (Interlocked)
    private static long s_heldBytes; // their mappings' bytes (Interlocked: added before a window is queued, taken off as it is dequeued)
    private static long s_unmappedByClosers; // closes that unmapped their own for the byte bound (tests and diagnostics)
    private static long s_byteWakes; // closes that woke the thread for the bytes held (tests and diagnostics)
    private static int s_parked; // 1 while the thread waits without a timeout (Interlocked / Volatile)
    private static long s_unmapped; // unmapped by the thread (tests and diagnostics)
    private static long s_munmapCalls; // munmap calls the coalescing drains made (tests and diagnostics)
    private static int s_took; // windows the current drain took (the thread's own)
    private static readonly Action s_drainAll = DrainAll;
    private static readonly List<(nint Address, nuint Length)> s_collected = new(MaxQueued);

    /// <summary>
    /// Whether a drain unmaps each run of adjacent windows with one munmap (round 14, the default;
    /// <c>IIC_UNMAP_COALESCE=0</c>: one munmap per window, as before).
    /// </summary>
    internal static bool Coalesce { get; set; } = Environment.GetEnvironmentVariable("IIC_UNMAP_COALESCE") != "0";

    /// <summary>munmap calls the thread's coalescing drains made so far (tests and diagnostics).</summary>
    internal static long MunmapCalls => Volatile.Read(ref s_munmapCalls);

    /// <summary>Windows the background thread has unmapped so far.</summary>
    internal static long UnmappedByThread => Volatile.Read(ref s_unmapped);

    /// <summary>Whether the thread waits without a timeout (nothing queued for a whole <see cref="IdleTimeout"/>: no wake-ups).</summary>
    internal static bool IsParked => Volatile.Read(ref s_parked) != 0 && Volatile.Read(ref s_count) == 0;

    /// <summary>Windows waiting to be unmapped.</summary>
    internal static int Waiting => Volatile.Read(ref s_count);

    /// <summary>Bytes of mappings the windows waiting hold.</summary>
    internal static long HeldBytes => Volatile.Read(ref s_heldBytes);

    /// <summary>Closes that unmapped their own window because the waiting ones held <see cref="MaxHeldBytes"/> with it.</summary>
    internal static long UnmappedByClosersForBytes => Volatile.Read(ref s_unmappedByClosers);

    /// <summary>Closes that woke the thread because the waiting windows held half of <see cref="MaxHeldBytes"/> or more.</summary>
    internal static long ByteWakes => Volatile.Read(ref s_byteWakes);

    /// <summary>
    /// Releases the caller's reference to <paramref name="memory"/> later, on the background thread (or now, when off,
    /// when the queue is full, or when the thread cannot be started). The caller must not use the mapping any more.
    /// </summary>
    internal static void Release(MappedMemory memory)
    {
        if (!Enabled || !EnsureThread())
        {
            memory.Dispose();
            return;
        }
        var length = memory.Length;
        var maxHeld = MaxHeldBytes;
        var held = Interlocked.Add(ref s_heldBytes, length); // counted before it is queued: the thread takes it off after it dequeues
        if (held > maxHeld)
        {
            Interlocked.Add(ref s_heldBytes, -length);
            Interlocked.Increment(ref s_unmappedByClosers);
            memory.Dispose(); // the waiting windows hold enough: this closer unmaps its own
            s_signal.Set(); // and the thread takes theirs now
            return;
        }
        s_queue.Enqueue(memory);
        var waiting = Interlocked.Increment(ref s_count); // full fence before the load of s_parked (partner: Run's exchange, then its load of s_count)
        if (waiting > MaxQueued && s_queue.TryDequeue(out var own))
        {
            Interlocked.Decrement(ref s_count);
            Interlocked.Add(ref s_heldBytes, -own.Length);
            own.Dispose(); // the thread fell behind: this closer pays for one, as before
            return;
        }
        var manyBytes = held >= maxHeld / 2;
        if (manyBytes)
        {
            Interlocked.Increment(ref s_byteWakes);
        }
        if (waiting >= Batch || manyBytes || Volatile.Read(ref s_parked) != 0)
        {
            s_signal.Set();
        }
    }

    /// <summary>
    /// Tests: what starting the thread throws when a release on this thread starts it, in place of <c>Thread.Start</c>
    /// (as it throws when the process cannot have a thread); null: start it.
    /// </summary>
    [ThreadStatic]
    internal static Exception? t_threadStartFailure;

    /// <summary>
    /// Starts the thread once; false when it cannot be started (the close then unmaps its own window, and the next close
    /// tries again). Thread.Start throws <see cref="OutOfMemoryException"/> when the OS refuses a thread (out of memory,
    /// or at the limit of threads: ulimit -u, threads-max, the cgroup's pids.max) and <see cref="ThreadStartException"/>
    /// when the thread was made but the runtime could not set it up; before round 25b that one escaped the channel's
    /// close (<see cref="SharedWindow.Dispose(bool)"/>) before the window's descriptor and group leases were released.
    /// </summary>
    private static bool EnsureThread()
    {
        if (Volatile.Read(ref s_thread) is not null)
        {
            return true;
        }
        lock (s_startLock)
        {
            if (s_thread is null)
            {
                try
                {
                    var thread = new Thread(Run) { IsBackground = true, Name = "IIC unmap" };
                    if (t_threadStartFailure is { } failure)
                    {
                        throw failure;
                    }
                    thread.Start();
                    Volatile.Write(ref s_thread, thread);
                }
                catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
                {
                    return false; // no thread: unmap inline
                }
            }
            return true;
        }
    }

    private static void Run()
    {
        while (true)
        {
            // Park: announce it with a full fence, then look once more (a close that incremented before our announcement
            // is seen here; one after it sees s_parked and signals).
            Interlocked.Exchange(ref s_parked, 1);
            if (Volatile.Read(ref s_count) == 0)
            {
                s_signal.WaitOne();
            }
            Volatile.Write(ref s_parked, 0);
            // Busy: take what waits, then wait for a batch or the timeout; park after a timeout that found nothing.
            while (true)
            {
                var took = Drain();
                if (!s_signal.WaitOne(IdleTimeout) && took == 0 && Volatile.Read(ref s_count) == 0)
                {
                    break;
                }
            }
        }
    }

    private static int Drain()
    {
        s_took = 0;
        if (Coalesce)
        {
            // The batch's munmaps are collected and made once per run of adjacent windows (round 14: one page-table walk
            // and one TLB flush per run; 16 default windows made 2 runs, 10.4 -> 7.3 µs per window, ConnectBench unmap-batch).
            Interlocked.Add(ref s_munmapCalls, MappedMemory.CollectUnmaps(s_drainAll, s_collected));
        }
        else
        {
            DrainAll();
        }
        return s_took;
    }

    private static void DrainAll()
    {
        while (s_queue.TryDequeue(out var memory))
        {
            Interlocked.Decrement(ref s_count);
            Interlocked.Add(ref s_heldBytes, -memory.Length);
            memory.Dispose(); // the last reference: munmap (MappedMemory.ReleaseHandle, collected when coalescing)
            Interlocked.Increment(ref s_unmapped);
            s_took++;
        }
    }
}
