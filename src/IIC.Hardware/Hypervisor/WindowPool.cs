using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// A few windows of the default size made ahead of the connects that will need them: created, sized, sealed and
/// mapped while the hypervisor has nothing else to do, so a grant only writes the header (memfd_create, ftruncate,
/// the seals and mmap cost ~20-30 µs of the connect path on this VM otherwise). Each file is fresh (never granted,
/// never reused: a grant takes it out of the pool for good, and it goes away with the grant), so no data can pass from
/// one connection to another; the pool only wrote zeros to the pages every grant writes anyway (the header and the
/// interrupt blocks), so their page faults are paid here too. Not charged to anyone until granted. Event loop only.
/// </summary>
internal sealed class WindowPool : IDisposable
{
    private readonly Stack<(FileDescriptor File, MappedMemory Memory)> _ready = new();
    private readonly WindowOptions _shape = WindowOptions.WithCapacity(WindowOptions.DefaultRingCapacity);
    private readonly int _target;
    private bool _refused; // the kernel refused the last refill: wait for the next grant before trying again

    /// <param name="target">How many windows to keep ready (0: none, every grant creates its own).</param>
    public WindowPool(int target) => _target = target;

    /// <summary>Windows ready now.</summary>
    public int Count => _ready.Count;

    /// <summary>Whether the pool wants another window (and the last attempt did not fail).</summary>
    public bool NeedsRefill => _ready.Count < _target && !_refused;

    /// <summary>Takes a prepared file for a window of <paramref name="capacity"/>-byte rings, if one of that size is ready.</summary>
    public bool TryTake(int capacity, out (FileDescriptor File, MappedMemory Memory) prepared)
    {
        _refused = false;
        if (capacity == WindowOptions.DefaultRingCapacity && _ready.TryPop(out prepared))
        {
            return true;
        }
        prepared = default;
        return false;
    }

    /// <summary>Prepares one window; a refusal from the kernel (descriptors, memory) stops refilling until the next take.</summary>
    /// <returns>The error, if the kernel refused.</returns>
    public NativeException? RefillOne()
    {
        try
        {
            var plan = SharedWindow.PlanFor(_shape);
            var (file, memory) = SealedMemory.Create("iic-window", plan.Total);
            try
            {
                Touch(memory, plan.Ring0); // the header and both interrupt blocks: what Format writes
            }
            catch
            {
                memory.Dispose();
                file.Dispose();
                throw;
            }
            _ready.Push((file, memory));
            return null;
        }
        catch (NativeException e)
        {
            _refused = true;
            return e;
        }
    }

    /// <summary>Stops refilling until the next grant takes a window (the hypervisor ran short of descriptors or memory).</summary>
    public void Pause() => _refused = true;

    /// <summary>Closes every ready window.</summary>
    public void Clear()
    {
        while (_ready.TryPop(out var prepared))
        {
            prepared.Memory.Dispose();
            prepared.File.Dispose();
        }
    }

    public void Dispose() => Clear();

    private static unsafe void Touch(MappedMemory memory, long length)
    {
        using var lease = memory.Lease();
        for (long offset = 0; offset < length; offset += 4096)
        {
            lease.Base[offset] = 0; // a fresh file reads zero already: this only commits the page now
        }
    }
}
