namespace IIC.Perf.Harness;

/// <summary>
/// Keeps the server child of a row alive for the next row (issue #17: the main job spent ~0.2-0.4 s per row
/// starting a runtime, JIT-compiling, with tiering off, everything the child runs, and tearing it down again).
/// One child at a time: a row rents it, gives it its spec (<see cref="ChildProcess.Assign"/>) and returns it once
/// the child has reported; a failed row kills it instead, and the next row starts a fresh one. Only children
/// started directly are reused; those under a prefix (ip netns exec, unshare) start afresh for every row. Since
/// round 11b this includes rows whose child needs descriptors of this process: it opens them through /proc.
/// <c>IIC_PERF_REUSE_CHILD=0</c> turns reuse off (a fresh child per row, as before round 11), for an A/B.
/// </summary>
internal static class ChildPool
{
    private static readonly Lock s_lock = new();
    private static ChildProcess? s_idle;
    private static bool s_idleFresh; // s_idle has not served a row yet (started by EnsureStarted)

    /// <summary>Whether rows reuse children (<c>IIC_PERF_REUSE_CHILD</c> is not 0).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("IIC_PERF_REUSE_CHILD") != "0";

    /// <summary>
    /// Whether rows whose child needs this process's descriptors (raw-shm, raw-futex, pipe) reuse it too, the child
    /// opening them through /proc (<c>IIC_PERF_REUSE_INHERITING</c> is not 0; round 11b).
    /// </summary>
    public static bool ReuseInheriting { get; } = Environment.GetEnvironmentVariable("IIC_PERF_REUSE_INHERITING") != "0";

    /// <summary>The idle child if it still runs, else a new reusable one, already given <paramref name="spec"/>.</summary>
    /// <param name="spec">The row.</param>
    /// <param name="started">True when the child was started for this row (it pays its start-up and JIT in this row's warm-up).</param>
    public static ChildProcess Rent(ChildSpec spec, out bool started)
    {
        ChildProcess? child;
        bool fresh;
        lock (s_lock)
        {
            child = s_idle;
            fresh = s_idleFresh;
            s_idle = null;
            s_idleFresh = false;
        }
        if (child is not null && !child.IsRunning)
        {
            child.Dispose();
            child = null;
        }
        started = child is null || fresh;
        child ??= ChildProcess.StartReusable("server");
        try
        {
            child.Assign(spec);
        }
        catch
        {
            child.Dispose();
            throw;
        }
        return child;
    }

    /// <summary>
    /// Starts the reusable child now if none is idle, BEFORE a row opens its session: a child started while a
    /// session's memfd or pipe ends are inheritable would keep copies of them for its whole life (held memory, and a
    /// pipe that never reads end-of-file). The row that rents it still counts it as started (full warm-up).
    /// </summary>
    public static void EnsureStarted()
    {
        lock (s_lock)
        {
            if (s_idle is { IsRunning: true })
            {
                return;
            }
        }
        var child = ChildProcess.StartReusable("server");
        ChildProcess? surplus;
        lock (s_lock)
        {
            surplus = s_idle;
            s_idle = child;
            s_idleFresh = true;
        }
        surplus?.Dispose();
    }

    /// <summary>A child whose row went well (its report is in) waits for the next row.</summary>
    public static void Return(ChildProcess child)
    {
        ArgumentNullException.ThrowIfNull(child);
        ChildProcess? surplus;
        lock (s_lock)
        {
            surplus = s_idle;
            s_idle = child;
            s_idleFresh = false;
        }
        surplus?.Finish();
        surplus?.Dispose();
    }

    /// <summary>Ends the idle child (closes its input, waits for it to exit).</summary>
    public static void Shutdown()
    {
        ChildProcess? child;
        lock (s_lock)
        {
            child = s_idle;
            s_idle = null;
        }
        child?.Finish();
        child?.Dispose();
    }
}
