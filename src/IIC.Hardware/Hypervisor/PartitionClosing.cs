using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// How the control socket closes. shutdown(2) wakes whoever waits on the socket (the background reader in its epoll or
/// poll, the no-epoll sender in its poll): each then reads the hang-up and ends, and only then is the descriptor closed
/// (a close alone wakes no poll or epoll_wait on Linux). The descriptor is a ref-counted handle: a native call holds a
/// reference for its duration, so a Dispose under it marks it closed and the close itself happens at the last release;
/// its number cannot be reused while a call still uses it (the runtime's Socket does the same: SafeSocketHandle.CloseAsIs
/// disposes the handle, then unblocks the pending calls with shutdown until the last release closes it).
/// The shutdown loads no code (round 25: out of descriptors it used to fail, its System.Net.Primitives could not be
/// loaded). Should it fail all the same, the background reader is woken another way (<see cref="WakeReaderToStop"/>).
/// Before round 24 Dispose then waited 5 s for a reader nobody woke. Once closing, nothing is dispatched
/// (<see cref="StopDispatching"/>).
/// </summary>
public sealed partial class Partition
{
    private volatile bool _stopReader; // the background reader ends at its next wake (the shutdown that would have ended it failed)

    /// <summary>Tests: the shutdown of the control socket fails on this thread (as it did out of descriptors before round 25).</summary>
    [ThreadStatic]
    internal static bool t_shutdownFails;

    /// <summary>Tests: whether the background reader thread still runs.</summary>
    internal bool ReaderRunning => _reader.IsAlive;

    /// <summary>Closes the control socket once (from Dispose, or from the release of the last grant after it).</summary>
    private void CloseControl()
    {
        if (Interlocked.Exchange(ref _controlClosed, 1) != 0)
        {
            return;
        }
        lock (_sendLock)
        {
            WakeSender(); // it ends (no reader epoll: it sleeps on this lock's monitor while nothing waits)
        }
        bool shutDown;
        try
        {
            ShutdownSocket();
            shutDown = true;
        }
        catch (IOException)
        {
            // A NativeException (nothing a connected unix socket gives), or a type that could not be loaded (out of
            // descriptors, before round 25: FileNotFoundException). Dispose still finishes.
            shutDown = false;
        }
        if (Thread.CurrentThread != _reader && (shutDown || WakeReaderToStop()))
        {
            _reader.Join(TimeSpan.FromSeconds(5));
        }
        StopDispatching();
        ClearQueued(); // what the hypervisor never read: closing the socket detaches this partition, which frees what they asked for
        _socket.Dispose(); // closed now, or at the end of the call that still holds it (a reader that could not be woken)
        PeerDeathWatcher.SharedIfStarted?.ForgetScope(this); // no grant joins our peer watches any more: idle ones end now
        DisposeReadingKicks();
        _groupPages.DisposeAll(); // each unmapped once the last grouped window (or group receiver) lets go of it
    }

    /// <summary>
    /// No message is dispatched from here on, and none is being dispatched when this returns: the read lock is held for
    /// each receive and its dispatch, so taking it waits for a dispatch under way (the background reader not joined
    /// above: without an epoll and after a failed shutdown, or a caller reading its own answer), and the reads after it
    /// find the end and take nothing (the socket's close discards what was left, the descriptors it carried with it).
    /// So the group pages are dropped below with no grant being adopted into them. Before round 25 a grant dispatched
    /// then could map a page after they were dropped, or attach a window to a page being dropped. The lock is
    /// re-entrant: the last grant's release inside a dispatch closes here on the reading thread. And the partition
    /// counts itself detached, as the reader's hang-up would have said.
    /// </summary>
    private void StopDispatching()
    {
        lock (_readLock)
        {
            _ended = true;
        }
        Lose("this partition detached");
    }

    /// <summary>
    /// The shutdown failed: wakes the background reader through its epoll with the caller's kick (a descriptor it
    /// already has: the failure may be for want of one), and the reader, seeing <see cref="_stopReader"/>, ends as on
    /// the hang-up. False when it cannot be woken: without an epoll it waits in poll on the socket alone, which only the
    /// hypervisor's next message or hang-up ends; Dispose then does not wait for it, and the socket's close waits for the
    /// end of that poll (the reader then finds the end <see cref="StopDispatching"/> marked, and ends).
    /// </summary>
    private bool WakeReaderToStop()
    {
        if (_readEpoll is not { } epoll || _callerKick is not { } kick)
        {
            return false;
        }
        _stopReader = true; // before the kick; a reading caller leaves the kick set from here on (ReadUntil)
        try
        {
            epoll.Add(kick.Descriptor, 0);
            kick.Signal();
            return true;
        }
        catch (IOException)
        {
            return false; // out of kernel memory for the watch: the reader cannot be woken either
        }
    }

    /// <summary>
    /// Shuts the control socket down; a method of its own so that a type load failure is thrown inside the caller's try.
    /// Its code needs no assembly that may not be loaded yet (out of descriptors none can be): until round 25 it called
    /// Shutdown(SocketShutdown.Both), whose System.Net.Primitives then failed to load (FailedShutdownCloseTests).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void ShutdownSocket()
    {
        if (t_shutdownFails)
        {
            throw new FileNotFoundException("(test) shutdown failed, as when its code could not be loaded for want of a descriptor (before round 25).");
        }
        _socket.ShutdownReadWrite(); // not Shutdown(SocketShutdown.Both): System.Net.Primitives cannot be loaded out of descriptors
    }
}
