using System.Diagnostics;
using IIC.Tests;

namespace IIC.Native.Tests;

public sealed class EventFdTests
{
    [Fact]
    public void Signals_AddUp_ReadTakesAll()
    {
        using var counter = new EventFd();
        counter.Signal(3);
        counter.Signal();
        counter.Signal(6);

        Assert.Equal(10UL, counter.Read());
        Assert.False(counter.TryRead(out var nothing));
        Assert.Equal(0UL, nothing);
    }

    [Fact]
    public void InitialValue_IsReadable()
    {
        using var counter = new EventFd(initialValue: 7);
        Assert.True(counter.TryRead(out var value));
        Assert.Equal(7UL, value);
    }

    [Fact]
    public void Semaphore_ReadTakesOneAtATime()
    {
        using var semaphore = new EventFd(semaphore: true);
        semaphore.Signal(2);

        Assert.Equal(1UL, semaphore.Read());
        Assert.True(semaphore.TryRead(out var second));
        Assert.Equal(1UL, second);
        Assert.False(semaphore.TryRead(out _));
    }

    [Fact]
    public void TryRead_Timeout_ReturnsFalseAfterWaiting()
    {
        using var counter = new EventFd();
        var watch = Stopwatch.StartNew();

        Assert.False(counter.TryRead(TimeSpan.FromMilliseconds(50), out _));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(45), $"returned after {watch.Elapsed}");
    }

    [Fact]
    public void Read_BlockedOnAnotherThread_IsReleasedBySignal()
    {
        using var counter = new EventFd();
        var got = 0UL;
        var read = false;
        var reader = new Thread(() => read = counter.TryRead(WaitFor.DefaultTimeout, out got)) { IsBackground = true };
        reader.Start();

        counter.Signal(5);

        Assert.True(reader.Join(WaitFor.DefaultTimeout), "the reader did not return");
        Assert.True(read);
        Assert.Equal(5UL, got);
    }

    [Fact]
    public void Descriptor_IsPollableAndCloseOnExec()
    {
        using var counter = new EventFd();
        Assert.True(counter.Descriptor.CloseOnExec);
        Assert.Equal(PollEvents.None, Poll.WaitOne(counter.Descriptor, PollEvents.Readable, TimeSpan.Zero));

        counter.Signal();

        Assert.Equal(PollEvents.Readable, Poll.WaitOne(counter.Descriptor, PollEvents.Readable, TimeSpan.Zero));
    }

    [Fact]
    public void Signal_MaxUlong_ThrowsArgumentOutOfRange()
    {
        using var counter = new EventFd();
        Assert.Throws<ArgumentOutOfRangeException>(() => counter.Signal(ulong.MaxValue));
    }

    [Fact]
    public void FromDescriptor_SharesTheCounter_AndRejectsOtherFiles()
    {
        using var counter = new EventFd();
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            a.Send("x"u8, counter.Descriptor);
            var received = new List<FileDescriptor>();
            Assert.True(b.TryReceive(new byte[1], received, WaitFor.DefaultTimeout, out _));
            using var copy = EventFd.FromDescriptor(Assert.Single(received));

            copy.Signal(4);

            Assert.Equal(4UL, counter.Read());
        }
        using var memfd = MemoryFile.Create("iic-not-eventfd");
        Assert.Throws<ArgumentException>(() => EventFd.FromDescriptor(memfd));
    }

    [Fact]
    public void Disposed_ThrowsObjectDisposed()
    {
        var counter = new EventFd();
        counter.Dispose();
        Assert.Throws<ObjectDisposedException>(() => counter.Signal());
        Assert.Throws<ObjectDisposedException>(() => counter.TryRead(out _));
    }
}
