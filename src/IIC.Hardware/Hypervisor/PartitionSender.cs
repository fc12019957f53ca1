using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The sender of a partition without a reader epoll (out of descriptors at attach: PartitionReading.cs, PollLoop).
/// Its reader waits in poll(2) for readability alone, and nothing can add writability to a poll under way without a
/// descriptor, so a thread of its own sends what waits in the send queue: it sleeps on the send lock's monitor (no
/// descriptor either) while nothing waits, and while messages wait it waits in poll for the socket's writability and
/// sends them the moment it can take them. No wake-up while the socket stays full. Before round 24 a 10 ms timer tried
/// to send what waited: a hundred attempts a second against a full socket, and each message up to 10 ms late once it
/// drained. It is started at attach and lives with the partition (round 25): in round 24 the send whose message had to
/// wait started it, and a thread that could not be created (out of memory, or at the thread limit) threw
/// OutOfMemoryException out of that send (out of Dispose's Release even), its message left queued with nobody to send
/// it. Now an attach that cannot start it fails with a <see cref="HypervisorException"/> that names the cause, and a
/// send never creates a thread.
/// </summary>
public sealed partial class Partition
{
    private Thread? _sender; // no reader epoll: sends what waits in the send queue, from attach until the socket closes
    private long _backgroundFlushes; // under _sendLock: attempts to send what waits, off the senders' own threads

    /// <summary>Tests: the sender thread of a partition attached on this thread cannot be started, as when the process is out of memory or threads.</summary>
    [ThreadStatic]
    internal static bool t_senderStartFails;

    /// <summary>Tests: how many times a background thread (the reader, or without its epoll the sender) tried to send what waits.</summary>
    internal long BackgroundFlushes
    {
        get
        {
            lock (_sendLock)
            {
                return _backgroundFlushes;
            }
        }
    }

    /// <summary>Tests: whether the sender thread (a partition without a reader epoll) runs.</summary>
    internal bool SenderRunning => _sender?.IsAlive == true;

    /// <summary>
    /// At attach: starts the sender if there is no reader epoll, then the reader. A thread that cannot be created
    /// (OutOfMemoryException: out of memory, or at the limit of threads) fails the attach with the cause named, and
    /// what was opened is closed (the hypervisor sees the hang-up).
    /// </summary>
    /// <exception cref="HypervisorException">A thread could not be started.</exception>
    private void StartThreads()
    {
        try
        {
            if (_readEpoll is null)
            {
                var sender = new Thread(SendLoop) { IsBackground = true, Name = $"IIC partition '{Name}' sender" };
                StartThread(sender, "sender", flowContext: false, t_senderStartFails);
                _sender = sender;
            }
            StartThread(_reader, "reader", flowContext: true, failForTests: false); // as before round 25: Start, not UnsafeStart
        }
        catch
        {
            Volatile.Write(ref _controlClosed, 1);
            lock (_sendLock)
            {
                WakeSender(); // it ends: the socket is closing
            }
            DisposeReadingKicks();
            _socket.Dispose();
            throw;
        }
    }

    private void StartThread(Thread thread, string role, bool flowContext, bool failForTests)
    {
        try
        {
            if (failForTests)
            {
#pragma warning disable CA2201 // the test's stand-in for the runtime's own: Thread.Start throws it when the thread cannot be created
                throw new OutOfMemoryException("(test) Thread failed to start.");
#pragma warning restore CA2201
            }
            if (flowContext)
            {
                thread.Start();
            }
            else
            {
                thread.UnsafeStart();
            }
        }
        catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
        {
            throw new HypervisorException(ControlError.ResourceExhausted,
                $"Partition '{Name}' could not start its {role} thread ({e.Message}): the process is out of memory or at its limit of " +
                "threads (ulimit -u, /proc/sys/kernel/threads-max, the cgroup's pids.max). Free some and attach again.");
        }
    }

    /// <summary>Under <c>_sendLock</c>: messages wait (or the socket closed); the sender, asleep on this lock's monitor, looks again.</summary>
    private void WakeSender()
    {
        if (_sender is not null)
        {
            Monitor.PulseAll(_sendLock);
        }
    }

    /// <summary>Sleeps while nothing waits; waits for the socket to take more and sends what waits; ends when the socket closes.</summary>
    private void SendLoop()
    {
        try
        {
            while (true)
            {
                lock (_sendLock)
                {
                    // A message queued after this look pulses the monitor once we wait on it (the queueing thread needs
                    // the lock, which the wait releases), so none is missed. Monitor.Wait needs no descriptor.
                    while (_sendQueue.Count == 0 && Volatile.Read(ref _controlClosed) == 0)
                    {
                        Monitor.Wait(_sendLock);
                    }
                    if (Volatile.Read(ref _controlClosed) != 0)
                    {
                        return;
                    }
                }
                // Writable, or hung up or failed (Dispose's or Lose's shutdown among them): the flush then fails, Lose
                // clears the queue, and the next look sleeps until the close. The poll holds a reference on the
                // descriptor, so Dispose cannot close its number under it.
                Poll.WaitOne(_socket.Descriptor, PollEvents.Writable, Timeout.InfiniteTimeSpan);
                if (Volatile.Read(ref _controlClosed) == 0)
                {
                    FlushQueued();
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The socket is closed: closing it cleared the queue (a message queued later fails on its sender's thread).
        }
        catch (NativeException e)
        {
            // poll failed (ENOMEM): what waits could not be sent any more, so the hypervisor is lost, as when the reader's
            // poll fails. Lose clears the queue, and nothing is queued after it.
            Lose($"the control socket failed ({e.Message})");
        }
    }
}
