using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// A few windows of the default size made ahead of the connects that will need them: created, sized, sealed and their
/// first pages committed off the connect path (by the <see cref="HypervisorHelper"/> thread, or by the event loop while
/// it has nothing else to do when there is no helper), so a grant of the default shape writes nothing (memfd_create,
/// ftruncate, the seals and the header's pwrite cost several µs of the connect path on this VM otherwise). Never mapped (round 14, <see cref="HeldWindow"/>):
/// the pages every grant and its partitions write first (the header with both interrupt blocks, each ring's first page)
/// are written by pwrite, the default grant's header with them, so neither the grant's header write nor a partition's first touch allocates or
/// zeroes a page, and nothing is left for the hypervisor to unmap. Each file is fresh (never granted, never reused: a
/// grant takes it out of the pool for good, and it goes away with the grant), so no data can pass from one connection
/// to another; the pool only writes zeros. Not charged to anyone until granted. Thread safe: the event loop takes, the
/// helper refills (a lock around the stack alone; the files are made outside it).
/// </summary>
internal sealed class WindowPool : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Stack<FileDescriptor> _ready = new();
    private readonly WindowOptions _shape = WindowOptions.WithCapacity(WindowOptions.DefaultRingCapacity);
    private readonly int _target;
    private int _making; // refills under way outside the lock
    private bool _refused; // the kernel refused the last refill: wait for the next grant before trying again
    private bool _disposed;

    /// <param name="target">How many windows to keep ready (0: none, every grant creates its own).</param>
    public WindowPool(int target) => _target = target;

    /// <summary>Windows ready now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _ready.Count;
            }
        }
    }

    /// <summary>The shape every ready file was prepared for (its header is written already: <see cref="HeldWindow.Adopt"/>).</summary>
    public WindowOptions Shape => _shape;

    /// <summary>How many windows the pool keeps ready.</summary>
    public int Target => _target;

    /// <summary>Whether the pool wants another window (and the last attempt did not fail).</summary>
    public bool NeedsRefill
    {
        get
        {
            lock (_lock)
            {
                return !_disposed && _ready.Count + _making < _target && !_refused;
            }
        }
    }

    /// <summary>Whether the pool is at or below half of its target (a helper is woken for it then, not per grant).</summary>
    public bool IsLow
    {
        get
        {
            lock (_lock)
            {
                return !_disposed && !_refused && _ready.Count + _making <= _target / 2 && _ready.Count + _making < _target;
            }
        }
    }

    /// <summary>Takes a prepared file for a window of <paramref name="capacity"/>-byte rings, if one of that size is ready.</summary>
    public bool TryTake(int capacity, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FileDescriptor? prepared)
    {
        lock (_lock)
        {
            _refused = false;
            if (capacity == WindowOptions.DefaultRingCapacity && _ready.TryPop(out prepared))
            {
                return true;
            }
        }
        prepared = null;
        return false;
    }

    /// <summary>Prepares one window if the pool still wants one; a refusal from the kernel (descriptors, memory) stops refilling until the next take.</summary>
    /// <returns>The error, if the kernel refused.</returns>
    public NativeException? RefillOne()
    {
        lock (_lock)
        {
            if (_disposed || _refused || _ready.Count + _making >= _target)
            {
                return null;
            }
            _making++;
        }
        FileDescriptor made;
        try
        {
            var plan = SharedWindow.PlanFor(_shape);
            made = SealedMemory.CreateUnmapped("iic-window", plan.Total);
            try
            {
                // The default grant's header, already in place (a grant of this shape writes nothing: HeldWindow.Adopt),
                // with the rest of the header page and both interrupt blocks, and each ring's first page (its control
                // lines and first records) committed with zeros: the listener's endpoint writes them first, on the
                // connection's critical path, where a fresh page costs an allocation and zeroing (ChannelOpened 7.5-18 µs
                // on the listener against 2.5-5 µs on the connector, which only maps them; round 9).
                HeldWindow.Prepare(made, _shape);
            }
            catch
            {
                made.Dispose();
                throw;
            }
        }
        catch (NativeException e)
        {
            lock (_lock)
            {
                _making--;
                _refused = true;
            }
            return e;
        }
        lock (_lock)
        {
            _making--;
            if (!_disposed)
            {
                _ready.Push(made);
                return null;
            }
        }
        made.Dispose(); // disposed meanwhile: nobody will take it
        return null;
    }

    /// <summary>Stops refilling until the next grant takes a window (the hypervisor ran short of descriptors or memory).</summary>
    public void Pause()
    {
        lock (_lock)
        {
            _refused = true;
        }
    }

    /// <summary>Closes every ready window; refills finishing later close theirs.</summary>
    public void Dispose()
    {
        List<FileDescriptor> ready;
        lock (_lock)
        {
            _disposed = true;
            ready = [.. _ready];
            _ready.Clear();
        }
        foreach (var file in ready)
        {
            file.Dispose();
        }
    }
}
