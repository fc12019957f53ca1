using System.Buffers.Binary;
using IIC.Tests;

namespace IIC.Native.Tests;

public sealed unsafe class MemoryFileTests
{
    private const FileSeals SizeSeals = FileSeals.Shrink | FileSeals.Grow | FileSeals.Seal;

    [Fact]
    public void Seals_RefuseShrinkAndGrow_AndReadBack()
    {
        using var file = MemoryFile.Create("iic-seals");
        MemoryFile.SetSize(file, 8192);
        Assert.Equal(FileSeals.None, MemoryFile.GetSeals(file));

        MemoryFile.AddSeals(file, SizeSeals);

        Assert.Equal(SizeSeals, MemoryFile.GetSeals(file));
        var shrink = Assert.Throws<NativeException>(() => MemoryFile.SetSize(file, 4096));
        Assert.Equal(1, shrink.Errno);
        Assert.Equal("EPERM", shrink.ErrnoName);
        var grow = Assert.Throws<NativeException>(() => MemoryFile.SetSize(file, 16384));
        Assert.Equal(1, grow.Errno);
        Assert.Contains("ftruncate(", grow.Message, StringComparison.Ordinal);
        Assert.Equal(8192, file.GetStatus().Size);
    }

    [Fact]
    public void SealSeal_RefusesFurtherSeals()
    {
        using var file = MemoryFile.Create("iic-seal-seal");
        MemoryFile.AddSeals(file, SizeSeals);

        var e = Assert.Throws<NativeException>(() => MemoryFile.AddSeals(file, FileSeals.Write));

        Assert.Equal("EPERM", e.ErrnoName);
        Assert.Equal(SizeSeals, MemoryFile.GetSeals(file));
    }

    [Fact]
    public void SetSize_Negative_ThrowsArgumentOutOfRange()
    {
        using var file = MemoryFile.Create("iic-negative");
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryFile.SetSize(file, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => MappedMemory.Map(file, -4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => MappedMemory.Map(file, 0));
    }

    [Fact]
    public void Create_NameTooLong_ThrowsArgumentException()
    {
        var e = Assert.Throws<ArgumentException>(() => MemoryFile.Create(new string('x', MemoryFile.MaxNameLength + 1)));
        Assert.Contains("249", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoMappings_SeeEachOthersWrites()
    {
        using var file = MemoryFile.Create("iic-two-maps");
        MemoryFile.SetSize(file, 4096);
        using var first = MappedMemory.Map(file, 4096);
        using var second = MappedMemory.Map(file, 4096);

        first.WriteReleaseInt64(64, 0x1122334455667788);
        second.WriteReleaseInt32(128, 42);
        first.GetSpan(256, 3).Fill(9);

        Assert.Equal(0x1122334455667788, second.ReadAcquireInt64(64));
        Assert.Equal(42, first.ReadAcquireInt32(128));
        Assert.Equal(new byte[] { 9, 9, 9 }, second.GetSpan(256, 3).ToArray());
        using var a = first.Lease();
        using var b = second.Lease();
        Assert.NotEqual((nint)a.Base, (nint)b.Base);
    }

    [Fact]
    public void Child_ReceivesSealedMemfdOverScmRights_SeesParentData_AndWritesBack()
    {
        const long Size = 4096;
        using var file = MemoryFile.Create("iic-child-map");
        MemoryFile.SetSize(file, Size);
        MemoryFile.AddSeals(file, SizeSeals);
        using var memory = MappedMemory.Map(file, Size);
        var data = memory.GetSpan(0, 64);
        for (var i = 0; i < 64; i++)
        {
            data[i] = (byte)(i * 3 + 1);
        }
        using var done = new EventFd();
        using var child = ChildProcess.Start("memfd-map");
        Span<byte> message = stackalloc byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(message, Size);

        child.Send(message, file, done.Descriptor);

        Assert.True(done.TryRead(WaitFor.DefaultTimeout, out var signalled), $"the child did not signal the eventfd.{Environment.NewLine}{child}");
        Assert.Equal(1UL, signalled);
        var reply = memory.GetSpan(64, 64);
        for (var i = 0; i < 64; i++)
        {
            Assert.Equal((byte)(255 - i), reply[i]);
        }
        child.AssertExit(0);
    }
}
