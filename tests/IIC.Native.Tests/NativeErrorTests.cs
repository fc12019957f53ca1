namespace IIC.Native.Tests;

public sealed class NativeErrorTests
{
    // Far above any descriptor limit here, so it is never open.
    private const int NeverOpen = 1_000_000;

    [Fact]
    public void BadDescriptor_GivesEbadfWithCallAndNumber()
    {
        using var bogus = new FileDescriptor(NeverOpen, ownsHandle: false);

        var e = Assert.Throws<NativeException>(() => bogus.GetStatus());

        Assert.Equal(9, e.Errno);
        Assert.Equal("EBADF", e.ErrnoName);
        Assert.Equal($"fstat({NeverOpen})", e.Call);
        Assert.StartsWith($"fstat({NeverOpen}) failed: EBADF (9): ", e.Message, StringComparison.Ordinal);
        Assert.Equal(9, Assert.Throws<NativeException>(() => MemoryFile.GetSeals(bogus)).Errno);
        Assert.Equal(9, Assert.Throws<NativeException>(() => bogus.CloseOnExec).Errno);
    }

    [Fact]
    public void Message_NamesCallErrnoNameNumberAndText()
    {
        var e = new NativeException("memfd_create(\"iic-window\")", 24);

        Assert.Equal("memfd_create(\"iic-window\") failed: EMFILE (24): Too many open files", e.Message);
        Assert.Equal(24, e.HResult);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void Message_UnknownErrno_StillHasNumber()
    {
        var e = new NativeException("frob(1)", 133);
        Assert.StartsWith("frob(1) failed: E133 (133): ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Descriptor_Disposed_ThrowsObjectDisposed()
    {
        var file = MemoryFile.Create("iic-disposed");
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => file.Value);
        Assert.Throws<ObjectDisposedException>(() => MemoryFile.SetSize(file, 4096));
        Assert.Throws<ObjectDisposedException>(() => MappedMemory.Map(file, 4096));
        Assert.Equal("fd(closed)", file.ToString());
    }

    [Fact]
    public void Descriptor_ZeroIsValid_NegativeIsRejected()
    {
        using var zero = new FileDescriptor(0, ownsHandle: false);
        Assert.False(zero.IsInvalid);
        Assert.Equal(0, zero.Value);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FileDescriptor(-1));
        using var empty = new FileDescriptor();
        Assert.True(empty.IsInvalid);
    }

    [Fact]
    public void Memfd_IsCloseOnExec_AndFlagCanBeCleared()
    {
        using var file = MemoryFile.Create("iic-cloexec");
        Assert.True(file.CloseOnExec);
        file.CloseOnExec = false;
        Assert.False(file.CloseOnExec);
        file.CloseOnExec = true;
        Assert.True(file.CloseOnExec);
    }
}
