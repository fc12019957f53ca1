using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Detects the death of this process's peers by itself, without the hypervisor: every grant carries a pidfd of
/// the peer, and one thread per process waits on them all with epoll (registering and releasing a pidfd wakes
/// nobody, so a connection costs the watcher no context switch). When a peer's pidfd turns readable (it exited,
/// however: kill -9 included) the watcher marks the peer's side of each of its windows dead and raises our side's
/// interrupt, in our own mapping (which has our interrupt group attached, so grouped and async receivers wake too),
/// exactly as the hypervisor does. So death is reported within one wake-up whether the hypervisor is alive, frozen,
/// dead or restarted. Marking twice (the hypervisor too) is harmless: a dead side stays dead.
/// <para>One watch per peer process, not per connection (issue 17 item 5, round 9): the connections a partition has to
/// one peer partition share one epoll registration of one pidfd. The peer is known by what its grants say (the
/// hypervisor's word, which a partition trusts for the window itself): our partition (so, one hypervisor and its pid
/// namespace), the peer's pid and its name (unique among attached partitions). A grant for a peer already watched
/// closes its own copy of the pidfd and joins the watch; the watch stays (with no connection) until the peer dies or
/// our partition closes its control socket, so a peer that connects again and again costs no epoll_ctl ADD/DEL per
/// connection. Pid reuse cannot make a death go unseen: a watch is left for a new one as soon as the watcher takes
/// its death; a new process that got the same pid and the same name in the instant between the old one's exit and
/// the watcher's wake-up would only have its connection marked dead with the old one's.</para>
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A process-lifetime singleton: its thread and epoll descriptor live as long as the process.")]
internal sealed class PeerDeathWatcher
{
    private static readonly Lazy<PeerDeathWatcher> s_shared = new(() => new PeerDeathWatcher());

    private readonly object _lock = new();
    private readonly Dictionary<ulong, PeerProcess> _watched = []; // by epoll key
    private readonly Dictionary<(object Scope, int Pid, string Name), PeerProcess> _byPeer = [];
    private readonly Epoll _epoll = new();
    private ulong _nextKey;
    private Thread? _thread;

    private PeerDeathWatcher()
    {
    }

    /// <summary>The process-wide watcher.</summary>
    public static PeerDeathWatcher Shared => s_shared.Value;

    /// <summary>The process-wide watcher if it was ever used (so that closing a partition does not start one).</summary>
    public static PeerDeathWatcher? SharedIfStarted => s_shared.IsValueCreated ? s_shared.Value : null;

    /// <summary>Peer processes watched now (one epoll registration each; tests).</summary>
    public int WatchedProcesses
    {
        get
        {
            lock (_lock)
            {
                return _watched.Count;
            }
        }
    }

    /// <summary>Peer processes watched now for connections granted through partition <paramref name="scope"/> (tests).</summary>
    public int WatchesOf(object scope)
    {
        lock (_lock)
        {
            return _watched.Values.Count(process => process.PeerKey is { } key && ReferenceEquals(key.Scope, scope));
        }
    }

    /// <summary>
    /// Watches <paramref name="peer"/> (taking ownership of the handle) for connection <paramref name="window"/>;
    /// on its death marks side <paramref name="peerSide"/> dead and calls <paramref name="onDeath"/>.
    /// Dispose the result when the connection ends.
    /// </summary>
    /// <param name="peer">The peer's pidfd.</param>
    /// <param name="scope">Our partition the grant came through (peers of different partitions are never shared), or null for a watch of this connection alone.</param>
    /// <param name="peerName">The peer partition's name, as the grant says.</param>
    /// <param name="window">Our mapping of the connection's window.</param>
    /// <param name="peerSide">The peer's side of the window.</param>
    /// <param name="ownGroup">Our interrupt group, when our side receives through it (kept mapped while marking).</param>
    /// <param name="onDeath">Called (on the watcher thread) after the marking.</param>
    /// <exception cref="NativeException">The kernel refused to watch one more descriptor (ENOMEM, ENOSPC).</exception>
    public IDisposable Watch(ProcessHandle peer, object? scope, string peerName, SharedWindow window, int peerSide, InterruptGroup? ownGroup, Action onDeath)
    {
        Registration registration;
        var joined = false;
        lock (_lock)
        {
            var key = (scope!, peer.ProcessId, peerName);
            if (scope is null || !_byPeer.TryGetValue(key, out var process))
            {
                process = new PeerProcess(++_nextKey, peer, scope is null ? null : key);
                try
                {
                    // A pidfd already readable (the peer is gone) is reported at once. Under the lock: a grant for the
                    // same peer on another thread joins only a registered watch.
                    _epoll.Add(peer.Descriptor, process.Key);
                }
                catch
                {
                    peer.Dispose();
                    throw;
                }
                _watched.Add(process.Key, process);
                if (scope is not null)
                {
                    _byPeer.Add(key, process);
                }
                if (_thread is null)
                {
                    _thread = new Thread(Run) { IsBackground = true, Name = "IIC peer death watcher" };
                    _thread.Start();
                }
            }
            else
            {
                joined = true;
            }
            registration = new Registration(this, process, window, peerSide, ownGroup, onDeath);
            process.Connections.Add(registration);
        }
        if (joined)
        {
            peer.Dispose(); // this grant's copy of the pidfd: the watch already holds one of the same process
        }
        return registration;
    }

    /// <summary>
    /// Our partition <paramref name="scope"/> closed its control socket: no grant will join its watches any more. Those
    /// with no connection end now, the others with their last connection.
    /// </summary>
    public void ForgetScope(object scope)
    {
        List<PeerProcess>? ended = null;
        lock (_lock)
        {
            List<(object Scope, int Pid, string Name)>? keys = null;
            foreach (var (key, process) in _byPeer)
            {
                if (!ReferenceEquals(key.Scope, scope))
                {
                    continue;
                }
                (keys ??= []).Add(key);
                process.Orphaned = true;
                if (process.Connections.Count == 0 && _watched.Remove(process.Key))
                {
                    (ended ??= []).Add(process);
                }
            }
            foreach (var key in (IEnumerable<(object Scope, int Pid, string Name)>?)keys ?? [])
            {
                _byPeer.Remove(key);
            }
        }
        foreach (var process in (IEnumerable<PeerProcess>?)ended ?? [])
        {
            Unregister(process);
        }
    }

    /// <summary>A connection ended: it leaves its peer's watch, which ends too if nothing else can join it.</summary>
    private void Leave(Registration registration)
    {
        var process = registration.Process;
        lock (_lock)
        {
            if (!process.Connections.Remove(registration) || process.Connections.Count > 0 || !process.Orphaned || !_watched.Remove(process.Key))
            {
                return; // still watched for others, or for the next grant from this peer (or its death was taken already)
            }
        }
        Unregister(process);
    }

    private void Unregister(PeerProcess process)
    {
        // Out of the set before it is closed: its number cannot be reused under the watch. An event the watcher thread
        // already took for this key finds no watch and is dropped.
        _epoll.Remove(process.Peer.Descriptor);
        process.Peer.Dispose();
    }

    private void Run()
    {
        Span<ulong> keys = stackalloc ulong[64];
        while (true)
        {
            int count;
            try
            {
                count = _epoll.Wait(keys, Timeout.InfiniteTimeSpan);
            }
            catch (NativeException)
            {
                Thread.Sleep(10); // ENOMEM: retry shortly
                continue;
            }
            for (var i = 0; i < count; i++)
            {
                Registration[] connections;
                PeerProcess? process;
                lock (_lock)
                {
                    if (!_watched.Remove(keys[i], out process))
                    {
                        continue;
                    }
                    if (process.PeerKey is { } key && _byPeer.TryGetValue(key, out var current) && current == process)
                    {
                        _byPeer.Remove(key); // a new grant from this peer (a new process with its pid?) starts a new watch
                    }
                    connections = [.. process.Connections];
                    process.Connections.Clear();
                }
                Unregister(process); // a level-triggered pidfd is reported until then
                foreach (var connection in connections)
                {
                    connection.PeerDied();
                }
            }
        }
    }

    /// <summary>One watched peer process: its pidfd (one epoll registration) and the connections that share it.</summary>
    private sealed class PeerProcess(ulong key, ProcessHandle peer, (object Scope, int Pid, string Name)? peerKey)
    {
        public ulong Key { get; } = key;

        public ProcessHandle Peer { get; } = peer;

        public (object Scope, int Pid, string Name)? PeerKey { get; } = peerKey;

        /// <summary>No grant can join any more (its partition closed, or a watch of one connection): it ends with its last connection.</summary>
        public bool Orphaned { get; set; } = peerKey is null;

        public HashSet<Registration> Connections { get; } = [];
    }

    private sealed class Registration(PeerDeathWatcher owner, PeerProcess process, SharedWindow window, int peerSide, InterruptGroup? ownGroup, Action onDeath) : IDisposable
    {
        public PeerProcess Process { get; } = process;

        public void PeerDied()
        {
            try
            {
                // Leases keep the window (and our group page, which the raise writes) mapped while we write; a window
                // already disposed has nobody left to tell.
                using var windowLease = window.Lease();
                using var groupLease = ownGroup?.Memory.Lease();
                window.MarkDead(peerSide);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            onDeath();
        }

        public void Dispose() => owner.Leave(this);
    }
}
