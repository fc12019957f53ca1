using BenchmarkDotNet.Attributes;
using IIC.Hardware;

namespace IIC.Benchmarks;

/// <summary>
/// The sender's doorbell after a publish, in one thread (no real sleeper):
/// <list type="bullet">
/// <item>Suppressed: the reader is spinning (not armed): a full fence and one load, no shared write, no syscall.</item>
/// <item>Armed, nobody asleep: the reader armed its ring but has not announced sleep: the pending bit's 0 -> 1 edge
/// (two interlocked ORs), no syscall. The bit is cleared each time so every Ring takes the edge.</item>
/// <item>Armed, sleep announced: additionally the CAS of the sleeping flag, the sequence bump and a FUTEX_WAKE
/// syscall that finds no waiter. This is the waker's floor; waking a thread that really sleeps on another CPU
/// costs the waker 14-18 µs more on this VM and the sleeper ~40 µs to run (docs/architecture.md), which a one-thread
/// benchmark cannot show: see perf/IIC.Perf for the cross-process numbers.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
public class DoorbellBenchmarks
{
    private SharedWindow _window = null!;
    private RingReader _reader = null!;
    private Doorbell _doorbell = null!;
    private InterruptPage _page = null!;

    [GlobalSetup]
    public void Setup()
    {
        _window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var writer = _window.GetRing(0).CreateWriter();
        _reader = _window.GetRing(0).CreateReader();
        _page = _window.GetInterruptPage(1);
        _doorbell = new Doorbell(writer, _page, _window.GetVector(1));
    }

    [GlobalCleanup]
    public void Cleanup() => _window.Dispose();

    [Benchmark(Baseline = true, Description = "Ring: suppressed (reader spinning)")]
    public void Suppressed()
    {
        _reader.Disarm();
        _doorbell.Ring();
    }

    [Benchmark(Description = "Ring: armed, pending edge, nobody asleep")]
    public void ArmedNoSleeper()
    {
        _reader.Arm();
        _page.ClearPending();
        _doorbell.Ring();
    }

    [Benchmark(Description = "Ring: armed, sleep announced, futex_wake (no waiter)")]
    public void ArmedFutexWake()
    {
        _reader.Arm();
        _page.ClearPending();
        _page.AnnounceSleep();
        _doorbell.Ring();
    }
}
