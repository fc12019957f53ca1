namespace IIC.Native;

/// <summary>
/// A counted reference to a <see cref="MappedMemory"/>: while it is not disposed, the mapping stays mapped
/// even if its owner disposes it, so <see cref="Base"/> stays valid. Dispose is idempotent.
/// </summary>
public sealed unsafe class MappingLease : IDisposable
{
    private MappedMemory? _memory;

    internal MappingLease(MappedMemory memory, byte* baseAddress, long length)
    {
        _memory = memory;
        Base = baseAddress;
        Length = length;
    }

    /// <summary>The first byte of the mapping. Valid until this lease is disposed.</summary>
    internal byte* Base { get; }

    /// <summary>The mapping's size in bytes.</summary>
    public long Length { get; }

    /// <summary>Releases the reference; the last release of a disposed mapping unmaps it.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _memory, null)?.DangerousRelease();
    }
}
