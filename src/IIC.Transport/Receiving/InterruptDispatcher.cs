using System.Collections.Concurrent;
using IIC.Hardware;
using IIC.Native;

namespace IIC.Transport;

/// <summary>
/// A background thread that sleeps on behalf of asynchronous receivers: it arms their rings, announces sleep
/// on their interrupt pages and waits on all of them at once with futex_waitv, so a parked ReceiveAsync holds
/// no thread of its own. Each dispatcher serves up to <see cref="Capacity"/> receivers; more start more threads.
/// </summary>
internal sealed unsafe class InterruptDispatcher
{
    /// <summary>futex_waitv takes 128 words: one is the dispatcher's own control word.</summary>
    public const int Capacity = Futex.MaxWaitAnyCount - 1;

    private static readonly object s_lock = new();
    private static readonly List<InterruptDispatcher> s_dispatchers = [];
    private static readonly TimeSpan s_sleepTimeout = TimeSpan.FromMilliseconds(100);

    private readonly ConcurrentQueue<AsyncReceiveSource> _incoming = new();
    private readonly List<AsyncReceiveSource> _active = [];
    private readonly MappedMemory _control;
    private readonly int* _controlWord;
    private int _load;

    private InterruptDispatcher(int index)
    {
        // The control word lives in its own shared mapping: futex operations here are the shared (non-private) kind.
        _control = MappedMemory.MapAnonymous(4096);
        _controlWord = (int*)_control.Lease().Base; // leased for the process lifetime
        var thread = new Thread(Run) { IsBackground = true, Name = $"IIC interrupt dispatcher {index}" };
        thread.Start();
    }

    public static void Register(AsyncReceiveSource source)
    {
        InterruptDispatcher? chosen = null;
        lock (s_lock)
        {
            foreach (var dispatcher in s_dispatchers)
            {
                if (Volatile.Read(ref dispatcher._load) < Capacity)
                {
                    chosen = dispatcher;
                    break;
                }
            }
            if (chosen is null)
            {
                chosen = new InterruptDispatcher(s_dispatchers.Count);
                s_dispatchers.Add(chosen);
            }
            Interlocked.Increment(ref chosen._load);
        }
        // Keep the window mapped until the dispatcher has dropped the source, whatever the channel does meanwhile.
        var added = false;
        source.Endpoint.Window.Memory.DangerousAddRef(ref added);
        chosen._incoming.Enqueue(source);
        Interlocked.Increment(ref *chosen._controlWord);
        Futex.Wake(chosen._controlWord, 1);
    }

    private void Run()
    {
        var targets = new FutexWaitTarget[Futex.MaxWaitAnyCount];
        while (true)
        {
            var control = Volatile.Read(ref *_controlWord);
            while (_incoming.TryDequeue(out var source))
            {
                _active.Add(source);
            }
            var count = 0;
            targets[count++] = new FutexWaitTarget(_controlWord, control);
            for (var i = _active.Count - 1; i >= 0; i--)
            {
                var source = _active[i];
                var endpoint = source.Endpoint;
                if (!source.IsWaiting)
                {
                    Drop(i);
                    continue;
                }
                var page = endpoint.ReceivePage;
                endpoint.ArmReceive(); // full fence
                var sequence = page.ReadSequence();
                page.AnnounceSleep(); // full fence, then re-check (Dekker)
                if (endpoint.IsReceiveReady || page.HasPending)
                {
                    page.CancelSleep();
                    page.ClearPending();
                    endpoint.DisarmReceive();
                    source.Complete();
                    Drop(i);
                    continue;
                }
                targets[count++] = new FutexWaitTarget(page.SequenceWord, sequence);
            }
            if (count == 1 && _active.Count == 0)
            {
                Futex.Wait(_controlWord, control, Timeout.InfiniteTimeSpan);
                continue;
            }
            Futex.WaitAny(targets.AsSpan(0, count), s_sleepTimeout, out _);
            for (var i = _active.Count - 1; i >= 0; i--)
            {
                var source = _active[i];
                var endpoint = source.Endpoint;
                var page = endpoint.ReceivePage;
                page.CancelSleep();
                page.ClearPending();
                if (!source.IsWaiting)
                {
                    endpoint.DisarmReceive();
                    Drop(i);
                }
                else if (endpoint.IsReceiveReady)
                {
                    endpoint.DisarmReceive();
                    source.Complete();
                    Drop(i);
                }
            }
        }
    }

    private void Drop(int index)
    {
        var source = _active[index];
        _active.RemoveAt(index);
        source.Endpoint.Window.Memory.DangerousRelease();
        Interlocked.Decrement(ref _load);
    }
}
