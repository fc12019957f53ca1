using System.Diagnostics;

namespace IIC.Native.Tests;

public sealed class PollTests
{
    [Fact]
    public void Wait_ReportsOnlyTheReadyEntry()
    {
        using var idle = new EventFd();
        using var busy = new EventFd();
        busy.Signal();
        Span<PollEntry> entries = [new(idle.Descriptor, PollEvents.Readable), new(busy.Descriptor, PollEvents.Readable)];

        var ready = Poll.Wait(entries, TimeSpan.FromSeconds(5));

        Assert.Equal(1, ready);
        Assert.Equal(PollEvents.None, entries[0].ReturnedEvents);
        Assert.Equal(PollEvents.Readable, entries[1].ReturnedEvents);
        Assert.Equal(busy.Descriptor.Value, entries[1].Descriptor);
    }

    [Fact]
    public void Wait_NothingReady_ReturnsZeroAfterTimeout()
    {
        using var idle = new EventFd();
        Span<PollEntry> entries = [new(idle.Descriptor, PollEvents.Readable)];
        var watch = Stopwatch.StartNew();

        Assert.Equal(0, Poll.Wait(entries, TimeSpan.FromMilliseconds(30)));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(25), $"returned after {watch.Elapsed}");
        Assert.Equal(0, Poll.Wait(entries, TimeSpan.Zero));
    }

    [Fact]
    public void Wait_ReportsWritableAndInvalidDescriptors()
    {
        using var counter = new EventFd();
        Span<PollEntry> entries = [new(counter.Descriptor, PollEvents.Writable), new(1_000_000, PollEvents.Readable), new(-1, PollEvents.Readable)];

        Assert.Equal(2, Poll.Wait(entries, TimeSpan.Zero));
        Assert.Equal(PollEvents.Writable, entries[0].ReturnedEvents);
        Assert.Equal(PollEvents.InvalidDescriptor, entries[1].ReturnedEvents);
        Assert.Equal(PollEvents.None, entries[2].ReturnedEvents); // negative: ignored
    }

    [Fact]
    public void Wait_NegativeTimeout_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Poll.Wait([], TimeSpan.FromMilliseconds(-2)));
    }

    [Fact]
    public void Wait_HangUpIsReportedWithoutAsking()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        {
            b.Dispose();
            Assert.True((Poll.WaitOne(a.Descriptor, PollEvents.Writable, TimeSpan.FromSeconds(5)) & PollEvents.HangUp) != 0);
        }
    }

    [Fact]
    public void PollEntry_HasPollfdLayoutAndValueEquality()
    {
        Assert.Equal(8, System.Runtime.CompilerServices.Unsafe.SizeOf<PollEntry>());
        var a = new PollEntry(3, PollEvents.Readable);
        var b = new PollEntry(3, PollEvents.Readable);
        Assert.Equal(a, b);
        Assert.True(a == b);
        b.ReturnedEvents = PollEvents.Readable;
        Assert.NotEqual(a, b);
    }
}
