using System.Globalization;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// An interrupt page in its own sealed memfd with <see cref="InterruptPage.MaxVectorCount"/> vectors, so one
/// receiving thread can wait on many windows at once: each grouped window names a vector here, its writer
/// raises that vector, and a wake costs a scan of the pending bitmap, not of every ring. The hypervisor makes one
/// per (receiving partition, sending partition) pair with grouped grants and hands it to both with each such grant,
/// so a sender can write only the page it shares with that receiver (docs/architecture.md, "Group pages per peer").
/// </summary>
public sealed unsafe class InterruptGroup : IDisposable
{
    private const int FileSize = 4096;

    private readonly MappingLease _lease;
    private object? _receiver;
    private int _disposed;

    private InterruptGroup(FileDescriptor file, MappedMemory memory, InterruptPage page)
    {
        File = file;
        Memory = memory;
        Page = page;
        _lease = memory.Lease();
    }

    /// <summary>The memfd (to hand to senders).</summary>
    public FileDescriptor File { get; }

    /// <summary>The mapping.</summary>
    public MappedMemory Memory { get; }

    /// <summary>The interrupt page.</summary>
    public InterruptPage Page { get; }

    /// <summary>Creates, sizes, seals, maps and formats a group page.</summary>
    /// <exception cref="NativeException">The kernel refused.</exception>
    public static InterruptGroup Create(string name = "iic-group")
    {
        var (file, memory) = SealedMemory.Create(name, FileSize);
        try
        {
            using var lease = memory.Lease();
            var page = InterruptPage.Format(lease.Base, InterruptPage.MaxVectorCount);
            return new InterruptGroup(file, memory, page);
        }
        catch
        {
            memory.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens a group page received from another process (taking ownership of the descriptor), checking seals, size and header.</summary>
    /// <exception cref="InvalidDataException">Not a sealed group page.</exception>
    public static InterruptGroup Open(FileDescriptor file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var memory = SealedMemory.Open(file, FileSize, FileSize, "interrupt group");
        try
        {
            using var lease = memory.Lease();
            return new InterruptGroup(file, memory, InterruptPage.Attach(lease.Base, FileSize));
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Claims the page for one receiver of this process. The page's pending bits are taken (cleared) by whoever reads
    /// them, so two receivers waiting on one page would steal each other's wake-ups: one page, one receiver.
    /// </summary>
    /// <returns>False when another receiver holds it.</returns>
    internal bool TryClaimReceiver(object receiver)
    {
        var holder = Interlocked.CompareExchange(ref _receiver, receiver, null);
        return holder is null || ReferenceEquals(holder, receiver);
    }

    /// <summary>Gives the page back (a no-op unless <paramref name="receiver"/> holds it).</summary>
    internal void ReleaseReceiver(object receiver) => Interlocked.CompareExchange(ref _receiver, null, receiver);

    /// <summary>Unmaps (once no window still leases it) and closes the descriptor.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _lease.Dispose();
        Memory.Dispose();
        File.Dispose();
    }
}
