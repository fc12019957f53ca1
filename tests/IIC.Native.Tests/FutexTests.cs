using System.Buffers.Binary;
using System.Diagnostics;
using IIC.Tests;

namespace IIC.Native.Tests;

public sealed unsafe class FutexTests
{
    // Layout shared with the futex-park and futex-waitv scenarios of IIC.TestHost.
    private const int AddressOffset = 8;
    private const int StateOffset = 16;
    private const int AboutToPark = 1;

    [Fact]
    public void Wait_ValueDiffers_ReturnsValueChangedAtOnce()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        memory.WriteReleaseInt32(0, 5);
        var watch = Stopwatch.StartNew();

        var result = Futex.Wait(memory, 0, expected: 4, TimeSpan.FromSeconds(5));

        Assert.Equal(FutexWaitResult.ValueChanged, result);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Wait_NoWake_ReturnsTimedOutAfterTimeout()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        var watch = Stopwatch.StartNew();

        var result = Futex.Wait(memory, 0, expected: 0, TimeSpan.FromMilliseconds(50));

        Assert.Equal(FutexWaitResult.TimedOut, result);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(45), $"returned after {watch.Elapsed}");
    }

    [Fact]
    public void Wake_NobodyWaiting_ReturnsZero()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        Assert.Equal(0, Futex.Wake(memory, 0));
    }

    [Fact]
    public void Wait_NullOrMisaligned_ThrowsArgumentException()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        using var lease = memory.Lease();
        Assert.Throws<ArgumentException>(() => Futex.Wait((int*)(lease.Base + 1), 0, TimeSpan.Zero));
        Assert.Throws<ArgumentException>(() => Futex.Wait(null, 0, TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => Futex.Wait((int*)lease.Base, 0, TimeSpan.FromSeconds(-2)));
    }

    [Fact]
    public void Wake_ReleasesThreadParkedOnWord()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        using var lease = memory.Lease();
        var word = (nint)lease.Base;
        var result = (FutexWaitResult)(-1);
        var waiter = new Thread(() => result = Futex.Wait((int*)word, 0, WaitFor.DefaultTimeout)) { IsBackground = true };
        waiter.Start();

        WaitFor.Condition(() => SyscallProbe.AnyThreadIn(Environment.ProcessId, SyscallProbe.Futex, word), "the thread to park in futex_wait on the word");
        Volatile.Write(ref *(int*)word, 1);
        var woken = Futex.Wake((int*)word);

        Assert.True(waiter.Join(WaitFor.DefaultTimeout), "the waiter did not return");
        Assert.Equal(1, woken);
        Assert.Equal(FutexWaitResult.Woken, result);
    }

    [Fact]
    public void Wake_ReleasesChildProcessParkedOnSharedWord()
    {
        using var file = MemoryFile.Create("iic-futex-park");
        MemoryFile.SetSize(file, 4096);
        using var memory = MappedMemory.Map(file, 4096);
        using var child = ChildProcess.Start("futex-park");
        child.Send(SizeMessage(4096), file);

        WaitFor.Condition(() => memory.ReadAcquireInt32(StateOffset) == AboutToPark, "the child to say it is about to park", diagnostics: child.ToString);
        var childWord = memory.ReadAcquireInt64(AddressOffset);
        WaitFor.Condition(() => SyscallProbe.AnyThreadIn(child.Id, SyscallProbe.Futex, childWord), "the child to park in futex_wait", diagnostics: child.ToString);
        memory.WriteReleaseInt32(0, 1);
        var woken = Futex.Wake(memory, 0);

        Assert.Equal(1, woken);
        child.AssertExit(0);
    }

    [Fact]
    public void WaitAny_WakesOnTheWordThatChanged_AcrossThreads()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        using var lease = memory.Lease();
        var words = (nint)lease.Base;
        var result = (FutexWaitResult)(-1);
        var index = -2;
        var waiter = new Thread(() =>
        {
            var w = (int*)words;
            FutexWaitTarget[] targets = [new(w, 0), new(w + 1, 0), new(w + 2, 0)];
            result = Futex.WaitAny(targets, WaitFor.DefaultTimeout, out index);
        })
        { IsBackground = true };
        waiter.Start();

        WaitFor.Condition(() => SyscallProbe.AnyThreadIn(Environment.ProcessId, SyscallProbe.FutexWaitV), "the thread to park in futex_waitv");
        memory.WriteReleaseInt32(4, 3);
        var woken = Futex.Wake(memory, 4);

        Assert.True(waiter.Join(WaitFor.DefaultTimeout), "the waiter did not return");
        Assert.Equal(1, woken);
        Assert.Equal(FutexWaitResult.Woken, result);
        Assert.Equal(1, index);
    }

    [Fact]
    public void WaitAny_WakesChildProcessThroughOneOfSeveralWords()
    {
        using var file = MemoryFile.Create("iic-futex-waitv");
        MemoryFile.SetSize(file, 4096);
        using var memory = MappedMemory.Map(file, 4096);
        using var child = ChildProcess.Start("futex-waitv");
        child.Send(SizeMessage(4096), file);

        WaitFor.Condition(() => memory.ReadAcquireInt32(StateOffset) == AboutToPark, "the child to say it is about to park", diagnostics: child.ToString);
        WaitFor.Condition(() => SyscallProbe.AnyThreadIn(child.Id, SyscallProbe.FutexWaitV), "the child to park in futex_waitv", diagnostics: child.ToString);
        memory.WriteReleaseInt32(8, 7);
        var woken = Futex.Wake(memory, 8);

        Assert.Equal(1, woken);
        child.AssertExit(0);
    }

    [Fact]
    public void WaitAny_ValueAlreadyDiffers_ReturnsValueChanged()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        using var lease = memory.Lease();
        var w = (int*)lease.Base;
        memory.WriteReleaseInt32(8, 1);
        FutexWaitTarget[] targets = [new(w, 0), new(w + 2, 0)];

        Assert.Equal(FutexWaitResult.ValueChanged, Futex.WaitAny(targets, TimeSpan.FromSeconds(5), out var index));
        Assert.Equal(-1, index);
    }

    [Fact]
    public void WaitAny_NoWake_ReturnsTimedOut()
    {
        using var memory = MappedMemory.MapAnonymous(4096);
        using var lease = memory.Lease();
        var w = (int*)lease.Base;
        FutexWaitTarget[] targets = [new(w, 0), new(w + 1, 0)];
        var watch = Stopwatch.StartNew();

        Assert.Equal(FutexWaitResult.TimedOut, Futex.WaitAny(targets, TimeSpan.FromMilliseconds(50), out _));
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(45), $"returned after {watch.Elapsed}");
    }

    [Fact]
    public void WaitAny_TooManyOrNoWords_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Futex.WaitAny([], TimeSpan.Zero, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => Futex.WaitAny(new FutexWaitTarget[Futex.MaxWaitAnyCount + 1], TimeSpan.Zero, out _));
    }

    private static byte[] SizeMessage(long size)
    {
        var message = new byte[sizeof(long)];
        BinaryPrimitives.WriteInt64LittleEndian(message, size);
        return message;
    }
}
