using System.Globalization;
using IIC.Tests;

namespace IIC.Native.Tests;

public sealed unsafe class ProcessMemoryTests
{
    [Fact]
    public void WriteAndRead_ChildBuffer()
    {
        using var child = ChildProcess.Start("vm-target");
        var line = child.ReadLine();
        Assert.StartsWith("0x", line, StringComparison.Ordinal);
        var address = nint.Parse(line.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

        var before = new byte[64];
        Assert.Equal(64, ProcessMemory.Read(child.Id, address, before));
        Assert.Equal(Enumerable.Range(0, 64).Select(i => (byte)(i ^ 0x5a)), before);

        var pattern = Enumerable.Range(0, 64).Select(i => (byte)(i * 11 + 7)).ToArray();
        Assert.Equal(64, ProcessMemory.Write(child.Id, address, pattern));
        child.WriteLine("check");

        child.AssertExit(0);
    }

    [Fact]
    public void WriteAndRead_Self()
    {
        var target = new byte[16];
        fixed (byte* pointer = target)
        {
            Assert.Equal(3, ProcessMemory.Write(Environment.ProcessId, (nint)(pointer + 4), [1, 2, 3]));
            var back = new byte[5];
            Assert.Equal(5, ProcessMemory.Read(Environment.ProcessId, (nint)(pointer + 3), back));
            Assert.Equal(new byte[] { 0, 1, 2, 3, 0 }, back);
        }
    }

    [Fact]
    public void Write_UnmappedAddress_ThrowsEfault_NoProcess_ThrowsEsrch()
    {
        var e = Assert.Throws<NativeException>(() => ProcessMemory.Write(Environment.ProcessId, 8, [1]));
        Assert.Equal("EFAULT", e.ErrnoName);
        Assert.Contains("process_vm_writev(pid", e.Message, StringComparison.Ordinal);
        Assert.Equal("ESRCH", Assert.Throws<NativeException>(() => ProcessMemory.Read(int.MaxValue, 4096, new byte[1])).ErrnoName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ProcessMemory.Write(0, 4096, [1]));
        Assert.Equal(0, ProcessMemory.Write(Environment.ProcessId, 8, []));
    }
}
