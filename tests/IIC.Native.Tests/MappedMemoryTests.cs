namespace IIC.Native.Tests;

public sealed unsafe class MappedMemoryTests
{
    [Fact]
    public void Disposed_AccessorsAndLease_ThrowObjectDisposed()
    {
        var memory = MappedMemory.MapAnonymous(4096);
        memory.Dispose();

        Assert.True(memory.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => memory.ReadAcquireInt32(0));
        Assert.Throws<ObjectDisposedException>(() => memory.WriteReleaseInt64(0, 1));
        Assert.Throws<ObjectDisposedException>(() => memory.GetSpan(0, 1).Length);
        Assert.Throws<ObjectDisposedException>(() => memory.Lease());
        Assert.Throws<ObjectDisposedException>(() => Futex.Wake(memory, 0));
    }

    [Fact]
    public void Lease_KeepsMappingAliveAfterDispose_UnmapsOnRelease()
    {
        var name = ProcFs.UniqueName("lease");
        using var file = MemoryFile.Create(name);
        MemoryFile.SetSize(file, 4096);
        var memory = MappedMemory.Map(file, 4096);
        memory.WriteReleaseInt32(16, 0x5eed);
        var lease = memory.Lease();
        Assert.Equal(1, ProcFs.MappingsOf(name));

        memory.Dispose();

        Assert.Throws<ObjectDisposedException>(() => memory.ReadAcquireInt32(16));
        Assert.Equal(0x5eed, Volatile.Read(ref *(int*)(lease.Base + 16))); // still mapped: no fault
        *(lease.Base + 20) = 7;
        Assert.Equal(1, ProcFs.MappingsOf(name));

        lease.Dispose();
        lease.Dispose(); // idempotent

        Assert.True(memory.IsClosed);
        Assert.Equal(0, ProcFs.MappingsOf(name));
    }

    [Theory]
    [InlineData(-4L)]
    [InlineData(4096L)]
    [InlineData(4093L)]
    [InlineData(long.MaxValue)]
    public void Int32Accessors_OutOfRange_ThrowArgumentOutOfRange(long offset)
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => memory.ReadAcquireInt32(offset));
        Assert.Contains("4096-byte mapping", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.CompareExchangeInt32(offset, 1, 0));
    }

    [Fact]
    public void Accessors_Misaligned_ThrowArgumentException()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        Assert.Throws<ArgumentException>(() => memory.ReadAcquireInt32(2));
        Assert.Throws<ArgumentException>(() => memory.FetchAddInt32(1, 1));
        Assert.Throws<ArgumentException>(() => memory.ReadAcquireInt64(4));
        Assert.Throws<ArgumentException>(() => memory.FetchOrInt64(12, 1));
        var e = Assert.Throws<ArgumentException>(() => memory.WriteReleaseInt64(8 + 2, 1));
        Assert.Contains("aligned", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Futex.Wait(memory, 2, 0, TimeSpan.Zero));
    }

    [Fact]
    public void GetSpan_OutOfRange_ThrowsArgumentOutOfRange()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.GetSpan(4090, 10).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.GetSpan(-1, 1).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => memory.GetSpan(0, -1).Length);
        Assert.Equal(4096, memory.GetSpan(0, 4096).Length);
    }

    [Fact]
    public void Atomics_ReturnOriginalValues()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        Assert.Equal(0, memory.FetchAddInt32(0, 5));
        Assert.Equal(5, memory.CompareExchangeInt32(0, 9, 5));
        Assert.Equal(9, memory.FetchOrInt32(0, 0x10));
        Assert.Equal(0x19, memory.ReadAcquireInt32(0));
        Assert.Equal(0L, memory.FetchAddInt64(8, long.MaxValue));
        Assert.Equal(long.MaxValue, memory.CompareExchangeInt64(8, 1, 2)); // no swap
        Assert.Equal(long.MaxValue, memory.ReadAcquireInt64(8));
    }
}
