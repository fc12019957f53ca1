using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Detects the death of this process's peers by itself, without the hypervisor: every grant carries a pidfd of
/// the peer, and one thread per process waits on them all with epoll (registering and releasing a pidfd wakes
/// nobody, so a connection costs the watcher no context switch). When a peer's pidfd turns readable (it exited,
/// however: kill -9 included) the watcher marks the peer's side of that window dead and raises our side's interrupt, in our
/// own mapping (which has our interrupt group attached, so grouped and async receivers wake too), exactly as the
/// hypervisor does. So death is reported within one wake-up whether the hypervisor is alive, frozen, dead or
/// restarted. Marking twice (the hypervisor too) is harmless: a dead side stays dead.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A process-lifetime singleton: its thread and epoll descriptor live as long as the process.")]
internal sealed class PeerDeathWatcher
{
    private static readonly Lazy<PeerDeathWatcher> s_shared = new(() => new PeerDeathWatcher());

    private readonly object _lock = new();
    private readonly Dictionary<ulong, Registration> _watched = [];
    private readonly Epoll _epoll = new();
    private ulong _nextKey;
    private Thread? _thread;

    private PeerDeathWatcher()
    {
    }

    /// <summary>The process-wide watcher.</summary>
    public static PeerDeathWatcher Shared => s_shared.Value;

    /// <summary>
    /// Watches <paramref name="peer"/> (taking ownership of the handle) for connection <paramref name="window"/>;
    /// on its death marks side <paramref name="peerSide"/> dead and calls <paramref name="onDeath"/>.
    /// Dispose the result when the connection ends.
    /// </summary>
    /// <param name="peer">The peer's pidfd.</param>
    /// <param name="window">Our mapping of the connection's window.</param>
    /// <param name="peerSide">The peer's side of the window.</param>
    /// <param name="ownGroup">Our interrupt group, when our side receives through it (kept mapped while marking).</param>
    /// <param name="onDeath">Called (on the watcher thread) after the marking.</param>
    /// <exception cref="NativeException">The kernel refused to watch one more descriptor (ENOMEM, ENOSPC).</exception>
    public IDisposable Watch(ProcessHandle peer, SharedWindow window, int peerSide, InterruptGroup? ownGroup, Action onDeath)
    {
        Registration registration;
        lock (_lock)
        {
            registration = new Registration(this, ++_nextKey, peer, window, peerSide, ownGroup, onDeath);
            _watched.Add(registration.Key, registration);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "IIC peer death watcher" };
                _thread.Start();
            }
        }
        try
        {
            _epoll.Add(peer.Descriptor, registration.Key); // a pidfd already readable (the peer is gone) is reported at once
        }
        catch
        {
            Unwatch(registration);
            throw;
        }
        return registration;
    }

    private void Unwatch(Registration registration)
    {
        lock (_lock)
        {
            if (!_watched.Remove(registration.Key))
            {
                return;
            }
        }
        // Out of the set before it is closed: its number cannot be reused under the watch. An event the watcher thread
        // already took for this key finds no registration and is dropped.
        _epoll.Remove(registration.Peer.Descriptor);
        registration.Peer.Dispose();
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
                Registration? registration;
                lock (_lock)
                {
                    _watched.TryGetValue(keys[i], out registration);
                }
                registration?.PeerDied(); // unwatches it: a level-triggered pidfd is reported until then
            }
        }
    }

    private sealed class Registration(PeerDeathWatcher owner, ulong key, ProcessHandle peer, SharedWindow window, int peerSide, InterruptGroup? ownGroup, Action onDeath) : IDisposable
    {
        public ulong Key { get; } = key;

        public ProcessHandle Peer { get; } = peer;

        public void PeerDied()
        {
            owner.Unwatch(this);
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

        public void Dispose() => owner.Unwatch(this);
    }
}
