using System.Collections.Concurrent;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// The one thread per process that waits for room on behalf of every duplex pipe and stream whose peer's ring is full, so a
/// flush or WriteAsync into a full ring never holds the calling thread (as a socket's send completes later on the epoll thread). It sleeps
/// with futex_waitv on its own control word and on each stalled ring's head word, armed with the ring's "room" flag (the
/// reader wakes the head word when it returns space: <c>RingWriter.TryArmRoom</c>); it wakes at least every 10 ms to
/// notice a peer that closed or died (which rings no bell on the head word). It costs nothing while no ring is full: it
/// is started by the first stall and then parks on its control word.
/// <para>More than 127 stalled pipes at once: the first 127 are waited on, the rest polled every millisecond.</para>
/// </summary>
internal static unsafe class RoomWaiter
{
    private static readonly TimeSpan s_slice = TimeSpan.FromMilliseconds(10); // as the blocking send's room slices
    private static readonly TimeSpan s_overflowSlice = TimeSpan.FromMilliseconds(1);
    private static readonly ConcurrentQueue<RoomWait> s_incoming = new();
    private static readonly object s_startLock = new();
    private static MappedMemory? s_control;
    private static int* s_controlWord;
    private static long s_waits;

    /// <summary>Waits handed to the waiter thread so far (tests check that a stall went through it).</summary>
    public static long Waits => Volatile.Read(ref s_waits);

    /// <summary>Hands an armed wait to the waiter thread (starting it on first use) and wakes it.</summary>
    public static void Register(RoomWait wait)
    {
        EnsureStarted();
        // Keep the window mapped while the thread sleeps on its head word, whatever the channel does meanwhile.
        var added = false;
        wait.Endpoint.Window.Memory.DangerousAddRef(ref added);
        Interlocked.Increment(ref s_waits);
        s_incoming.Enqueue(wait);
        Wake();
    }

    /// <summary>Makes the waiter thread look at its waits now (a new one, or a cancellation).</summary>
    public static void Wake()
    {
        var word = s_controlWord;
        if (word is null)
        {
            return; // never started: nothing waits
        }
        // The thread reads the word before it looks at its queue and sleeps expecting that value: this increment
        // either happened before its read (it sees the queue) or makes its sleep return at once (EAGAIN).
        Interlocked.Increment(ref *word);
        Futex.Wake(word, 1);
    }

    private static void EnsureStarted()
    {
        if (Volatile.Read(ref s_control) is not null)
        {
            return;
        }
        lock (s_startLock)
        {
            if (s_control is not null)
            {
                return;
            }
            // The control word lives in a shared mapping: futex_waitv here is the shared (non-private) kind, as the head words.
            var control = MappedMemory.MapAnonymous(4096);
            s_controlWord = (int*)control.Lease().Base; // leased for the process lifetime
            Volatile.Write(ref s_control, control);
            new Thread(Run) { IsBackground = true, Name = "IIC room waiter" }.Start();
        }
    }

    private static void Run()
    {
        var active = new List<RoomWait>();
        var targets = new FutexWaitTarget[Futex.MaxWaitAnyCount];
        while (true)
        {
            var control = Volatile.Read(ref *s_controlWord);
            while (s_incoming.TryDequeue(out var wait))
            {
                active.Add(wait);
            }
            var count = 1;
            targets[0] = new FutexWaitTarget(s_controlWord, control);
            for (var i = active.Count - 1; i >= 0; i--)
            {
                var wait = active[i];
                if (TryFinish(wait, out var error))
                {
                    active.RemoveAt(i);
                    wait.Complete(error);
                    wait.Endpoint.Window.Memory.DangerousRelease();
                }
                else if (count < targets.Length)
                {
                    targets[count++] = wait.Target;
                }
            }
            var timeout = active.Count == 0 ? Timeout.InfiniteTimeSpan : active.Count < targets.Length ? s_slice : s_overflowSlice;
            try
            {
                Futex.WaitAny(targets.AsSpan(0, count), timeout, out _); // every outcome is a hint: the next round re-checks
            }
            catch (NativeException e)
            {
                // The kernel refused the wait (e.g. no futex_waitv): end every wait with it rather than hang them.
                foreach (var wait in active)
                {
                    wait.Complete(new IicChannelClosedException("Waiting for room in the peer's ring failed: " + e.Message));
                    wait.Endpoint.Window.Memory.DangerousRelease();
                }
                active.Clear();
            }
        }
    }

    /// <summary>Whether <paramref name="wait"/> is over (room, end of the channel, stop, fault); otherwise re-arms its ring.</summary>
    private static bool TryFinish(RoomWait wait, out Exception? error)
    {
        error = null;
        if (wait.StopRequested)
        {
            error = wait.Cancellation();
            return true;
        }
        try
        {
            if (!wait.Endpoint.TryArmRoomWait(wait.PayloadLength, firstArm: false, out var target))
            {
                return true; // room, or the channel ended: the send loop's next claim says which
            }
            wait.Target = target;
            return false;
        }
#pragma warning disable CA1031 // a fault of one ring ends that pipe's send, never this thread
        catch (Exception e)
        {
            error = e;
            return true;
        }
#pragma warning restore CA1031
    }
}
