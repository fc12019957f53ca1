using IIC.Tests;

namespace IIC.Native.Tests;

public sealed class CpuAffinityTests
{
    [Fact]
    public void SetForCurrentThread_PinsAndReadsBack()
    {
        // A dedicated thread: affinity is per thread and must not leak into the test runner's pool threads.
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                var allowed = CpuAffinity.GetForCurrentThread();
                Assert.NotEmpty(allowed);
                Assert.Equal(allowed.Order().ToArray(), allowed);
                var target = allowed[^1];

                CpuAffinity.SetForCurrentThread([target]);

                Assert.Equal([target], CpuAffinity.GetForCurrentThread());
                Assert.Equal(target, CpuAffinity.CurrentCpu); // the kernel moved us before returning
                CpuAffinity.SetForCurrentThread(allowed);
                Assert.Equal(allowed, CpuAffinity.GetForCurrentThread());
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        Assert.True(thread.Join(WaitFor.DefaultTimeout));
        Assert.Null(failure);
    }

    [Fact]
    public void CurrentCpu_IsAnAllowedCpu()
    {
        var cpu = CpuAffinity.CurrentCpu;
        Assert.InRange(cpu, 0, 65535);
    }

    [Fact]
    public void SetForCurrentThread_BadInput_Throws()
    {
        Assert.Throws<ArgumentException>(() => CpuAffinity.SetForCurrentThread([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuAffinity.SetForCurrentThread([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuAffinity.SetForCurrentThread([1 << 20]));
    }

    [Fact]
    public void SetForCurrentThread_OnlyOfflineCpus_ThrowsEinval()
    {
        Exception? failure = null;
        var thread = new Thread(() => failure = Record.Exception(() => CpuAffinity.SetForCurrentThread([4000])));
        thread.Start();
        Assert.True(thread.Join(WaitFor.DefaultTimeout));
        var e = Assert.IsType<NativeException>(failure);
        Assert.Equal("EINVAL", e.ErrnoName);
        Assert.Contains("sched_setaffinity(0, [4000])", e.Message, StringComparison.Ordinal);
    }
}
