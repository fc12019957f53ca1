using IIC.Tests;

namespace IIC.Native.Tests;

public sealed class ProcessHandleTests
{
    [Fact]
    public void Pidfd_IsReadableExactlyWhenTheChildExits()
    {
        using var child = ChildProcess.Start("wait-stdin");
        Assert.Equal("ready", child.ReadLine());
        using var handle = ProcessHandle.Open(child.Id);

        // The child is alive, blocked until we tell it to go: the pidfd must not be readable.
        Assert.False(handle.HasExited);
        Assert.False(handle.WaitForExit(TimeSpan.FromMilliseconds(20)));
        Span<PollEntry> entry = [new(handle.Descriptor, PollEvents.Readable)];
        Assert.Equal(0, Poll.Wait(entry, TimeSpan.Zero));

        child.WriteLine("exit");

        Assert.True(handle.WaitForExit(WaitFor.DefaultTimeout), $"the pidfd did not become readable.{Environment.NewLine}{child}");
        Assert.True(handle.HasExited);
        Assert.Equal(1, Poll.Wait(entry, TimeSpan.Zero));
        Assert.True((entry[0].ReturnedEvents & PollEvents.Readable) != 0);
        child.AssertExit(0);
    }

    [Fact]
    public void Open_Self_IsNotExited_AndCloseOnExec()
    {
        using var self = ProcessHandle.Open(Environment.ProcessId);
        Assert.Equal(Environment.ProcessId, self.ProcessId);
        Assert.False(self.HasExited);
        Assert.True(self.Descriptor.CloseOnExec);
    }

    [Fact]
    public void Open_NoSuchProcess_ThrowsEsrch()
    {
        var e = Assert.Throws<NativeException>(() => ProcessHandle.Open(int.MaxValue));
        Assert.Equal("ESRCH", e.ErrnoName);
        Assert.Contains($"pidfd_open({int.MaxValue})", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_NonPositivePid_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ProcessHandle.Open(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProcessHandle.Open(-5));
    }
}
