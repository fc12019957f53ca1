using System.Runtime.InteropServices;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// Detects the death of this process's peers by itself, without the hypervisor: every grant carries a pidfd of
/// the peer, and one thread per process polls them all. When a peer's pidfd turns readable (it exited, however:
/// kill -9 included) the watcher marks the peer's side of that window dead and raises our side's interrupt, in our
/// own mapping (which has our interrupt group attached, so grouped and async receivers wake too), exactly as the
/// hypervisor does. So death is reported within a poll wake-up whether the hypervisor is alive, frozen, dead or
/// restarted. Marking twice (the hypervisor too) is harmless: a dead side stays dead.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A process-lifetime singleton: its thread and eventfd live as long as the process.")]
internal sealed class PeerDeathWatcher
{
    private static readonly Lazy<PeerDeathWatcher> s_shared = new(() => new PeerDeathWatcher());

    private readonly object _lock = new();
    private readonly List<Registration> _watched = [];
    private readonly List<Registration> _retired = []; // unwatched: their pidfds are closed by the watcher thread after its poll returns
    private readonly EventFd _wakeup = new();
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
    /// <param name="window">Our mapping of the window.</param>
    /// <param name="peerSide">The peer's side.</param>
    /// <param name="ownGroup">Our interrupt group, when our side receives through it (kept mapped while marking).</param>
    /// <param name="onDeath">Called on the watcher thread after the side was marked.</param>
    public IDisposable Watch(ProcessHandle peer, SharedWindow window, int peerSide, InterruptGroup? ownGroup, Action onDeath)
    {
        var registration = new Registration(this, peer, window, peerSide, ownGroup, onDeath);
        lock (_lock)
        {
            _watched.Add(registration);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "IIC peer death watcher" };
                _thread.Start();
            }
        }
        _wakeup.Signal();
        return registration;
    }

    private void Unwatch(Registration registration)
    {
        lock (_lock)
        {
            if (_watched.Remove(registration))
            {
                registration.Retired = true;
                _retired.Add(registration);
            }
        }
        // No wake-up (it would cost a context switch on every connection's close): a retired pidfd stays in the poll
        // set until the next Watch wakes the thread, or until its process exits, which makes the poll return and the
        // thread close it without reporting anything.
    }

    private void Run()
    {
        var entries = new List<PollEntry>();
        while (true)
        {
            Registration[] polled;
            lock (_lock)
            {
                foreach (var retired in _retired)
                {
                    retired.Peer.Dispose(); // not in any poll set now: its descriptor number cannot be reused under a poll
                }
                _retired.Clear();
                polled = [.. _watched];
            }
            entries.Clear();
            entries.Add(new PollEntry(_wakeup.Descriptor, PollEvents.Readable));
            foreach (var registration in polled)
            {
                entries.Add(new PollEntry(registration.Peer.Descriptor, PollEvents.Readable));
            }
            var span = CollectionsMarshal.AsSpan(entries);
            try
            {
                Poll.Wait(span, Timeout.InfiniteTimeSpan);
            }
            catch (Exception e) when (e is NativeException or ObjectDisposedException)
            {
                Thread.Sleep(10); // ENOMEM: retry shortly
                continue;
            }
            if ((span[0].ReturnedEvents & PollEvents.Readable) != 0)
            {
                _wakeup.TryRead(out _);
            }
            for (var i = 0; i < polled.Length; i++)
            {
                if (span[1 + i].ReturnedEvents != PollEvents.None && !polled[i].Retired)
                {
                    polled[i].PeerDied();
                }
            }
        }
    }

    private sealed class Registration(PeerDeathWatcher owner, ProcessHandle peer, SharedWindow window, int peerSide, InterruptGroup? ownGroup, Action onDeath) : IDisposable
    {
        public ProcessHandle Peer { get; } = peer;

        /// <summary>Unwatched (its connection was released): its pidfd waits to be closed by the watcher thread.</summary>
        public volatile bool Retired;

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
