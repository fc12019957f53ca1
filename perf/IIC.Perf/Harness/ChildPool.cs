using IIC.Perf.Core;

namespace IIC.Perf.Harness;

/// <summary>
/// Keeps the child of a row alive for the next row (issue #17: the main job spent ~0.2-0.4 s per row starting a
/// runtime, JIT-compiling, with tiering off, everything the child runs, and tearing it down again). One idle child
/// per <em>kind</em>: a kind is a role and the prefix it runs under, so the plain server child (no prefix) is one
/// kind, and since round 13 each namespaced launch is one too (<c>ip netns exec NS</c> for tcp-veth's server and
/// client, <c>unshare ...</c> for iic-ns's server and client, both for tcp-veth-ns): its namespaces are made once
/// per run instead of once per row. A row rents a child of its kind, gives it its spec (<see cref="ChildProcess.Assign"/>)
/// and returns it once the child has reported; a failed row kills it instead, and the next row of that kind starts a
/// fresh one. Since round 11b rows whose child needs descriptors of this process are reused too (it opens them
/// through /proc). <c>IIC_PERF_REUSE_CHILD=0</c> turns reuse off (a fresh child per row, as before round 11), for an
/// A/B; <c>IIC_PERF_REUSE_PREFIXED=0</c> starts a fresh child per row only for the kinds under a prefix (before
/// round 13).
/// </summary>
internal static class ChildPool
{
    /// <summary>The kind of the plain server child: no prefix.</summary>
    public const string PlainServer = "server";

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<string, (ChildProcess Child, bool Fresh)> s_idle = new(StringComparer.Ordinal);

    /// <summary>Whether rows reuse children (<c>IIC_PERF_REUSE_CHILD</c> is not 0).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("IIC_PERF_REUSE_CHILD") != "0";

    /// <summary>
    /// Whether rows whose child needs this process's descriptors (raw-shm, raw-futex, pipe) reuse it too, the child
    /// opening them through /proc (<c>IIC_PERF_REUSE_INHERITING</c> is not 0; round 11b).
    /// </summary>
    public static bool ReuseInheriting { get; } = Environment.GetEnvironmentVariable("IIC_PERF_REUSE_INHERITING") != "0";

    /// <summary>
    /// Whether children started under a prefix (in namespaces: tcp-veth, iic-ns, tcp-veth-ns) are reused, one per
    /// role and prefix (<c>IIC_PERF_REUSE_PREFIXED</c> is not 0; round 13).
    /// </summary>
    public static bool ReusePrefixed { get; } = Environment.GetEnvironmentVariable("IIC_PERF_REUSE_PREFIXED") != "0";

    /// <summary>Whether a child of <paramref name="launch"/> may be reused under the switches above.</summary>
    public static bool Reusable(ChildLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        if (!Enabled)
        {
            return false;
        }
        if (launch.Prefix.Count > 0)
        {
            // Descriptors cannot follow a child into other namespaces by /proc path; no prefixed launch inherits any.
            return ReusePrefixed && !launch.InheritsDescriptors;
        }
        return !launch.InheritsDescriptors || ReuseInheriting;
    }

    /// <summary>The kind of a child: its role (<c>server</c>, <c>client</c>) and the prefix it runs under.</summary>
    public static string Kind(string role, ChildLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        return launch.Prefix.Count == 0 && role == PlainServer ? PlainServer : role + "\0" + string.Join('\0', launch.Prefix);
    }

    /// <summary>
    /// The idle child of <paramref name="kind"/> if it still runs, else a new reusable one (under <paramref name="prefix"/>),
    /// given the spec <paramref name="spec"/> makes: its argument says whether the child was started for this row.
    /// </summary>
    /// <param name="kind">See <see cref="Kind"/>.</param>
    /// <param name="label">The child's label in messages.</param>
    /// <param name="prefix">The command it runs under (empty: started directly).</param>
    /// <param name="spec">The row, given whether the child is new (it pays its start-up and JIT in this row's warm-up).</param>
    /// <param name="started">True when the child was started for this row.</param>
    public static ChildProcess Rent(string kind, string label, IReadOnlyList<string> prefix, Func<bool, ChildSpec> spec, out bool started)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ChildProcess? child = null;
        var fresh = false;
        lock (s_lock)
        {
            if (s_idle.Remove(kind, out var idle))
            {
                (child, fresh) = idle;
            }
        }
        if (child is not null && !child.IsRunning)
        {
            child.Dispose();
            child = null;
        }
        started = child is null || fresh;
        child ??= ChildProcess.StartReusable(label, prefix);
        try
        {
            child.Assign(spec(started));
        }
        catch
        {
            child.Dispose();
            throw;
        }
        return child;
    }

    /// <summary>
    /// Starts a plain reusable server child of <paramref name="kind"/> (no prefix) now if none is idle, BEFORE a row
    /// opens its session: a child started while a session's memfd or pipe ends are inheritable would keep copies of
    /// them for its whole life (held memory, and a pipe that never reads end-of-file). The row that rents it still
    /// counts it as started (full warm-up).
    /// </summary>
    public static void EnsureStarted(string kind = PlainServer)
    {
        lock (s_lock)
        {
            if (s_idle.TryGetValue(kind, out var idle) && idle.Child.IsRunning)
            {
                return;
            }
        }
        var child = ChildProcess.StartReusable(kind, []);
        Park(kind, child, fresh: true);
    }

    /// <summary>A child whose row went well (its report is in) waits for the next row of its kind.</summary>
    public static void Return(string kind, ChildProcess child)
    {
        ArgumentNullException.ThrowIfNull(child);
        Park(kind, child, fresh: false);
    }

    /// <summary>Ends every idle child (closes its input, waits for it to exit).</summary>
    public static void Shutdown()
    {
        List<ChildProcess> children;
        lock (s_lock)
        {
            children = [.. s_idle.Values.Select(idle => idle.Child)];
            s_idle.Clear();
        }
        foreach (var child in children)
        {
            child.Finish();
            child.Dispose();
        }
    }

    private static void Park(string kind, ChildProcess child, bool fresh)
    {
        ChildProcess? surplus = null;
        lock (s_lock)
        {
            if (s_idle.TryGetValue(kind, out var idle))
            {
                surplus = idle.Child;
            }
            s_idle[kind] = (child, fresh);
        }
        surplus?.Finish();
        surplus?.Dispose();
    }
}
