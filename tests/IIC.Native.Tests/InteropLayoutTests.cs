namespace IIC.Native.Tests;

/// <summary>The interop structs must have the kernel's sizes on 64-bit Linux: a short struct lets the kernel write past it.</summary>
public sealed unsafe class InteropLayoutTests
{
    [Fact]
    public void Structs_HaveKernelSizes()
    {
        Assert.Equal(256, sizeof(Interop.Libc.StatX));
        Assert.Equal(56, sizeof(Interop.Libc.MsgHdr));
        Assert.Equal(16, sizeof(Interop.Libc.CmsgHdr));
        Assert.Equal(16, sizeof(Interop.Libc.IoVec));
        Assert.Equal(110, sizeof(Interop.Libc.SockaddrUn));
        Assert.Equal(12, sizeof(Interop.Libc.UCred));
        Assert.Equal(24, sizeof(Interop.Libc.FutexWaitV));
        Assert.Equal(16, sizeof(Interop.Libc.Timespec));
        Assert.Equal(8, sizeof(PollEntry));
    }

    [Fact]
    public void MsgHdr_FieldOffsets_MatchGlibc()
    {
        Interop.Libc.MsgHdr header;
        var start = (byte*)&header;
        Assert.Equal(8, (byte*)&header.msg_namelen - start);
        Assert.Equal(16, (byte*)&header.msg_iov - start);
        Assert.Equal(24, (byte*)&header.msg_iovlen - start);
        Assert.Equal(32, (byte*)&header.msg_control - start);
        Assert.Equal(40, (byte*)&header.msg_controllen - start);
        Assert.Equal(48, (byte*)&header.msg_flags - start);
    }

    [Fact]
    public void CmsgMacros_MatchGlibc()
    {
        Assert.Equal((nuint)16, Interop.Libc.CmsgLen(0));
        Assert.Equal((nuint)20, Interop.Libc.CmsgLen(4));
        Assert.Equal((nuint)24, Interop.Libc.CmsgSpace(4));
        Assert.Equal((nuint)32, Interop.Libc.CmsgSpace(12));
        Assert.Equal((nuint)1032, Interop.Libc.CmsgSpace(253 * 4));
    }
}
