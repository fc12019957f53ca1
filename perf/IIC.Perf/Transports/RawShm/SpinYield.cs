using IIC.Perf.Core;

namespace IIC.Perf.Transports.RawShm;

/// <summary>
/// What a raw-shm spin loop does every <see cref="Interval"/> + 1 empty iterations (tens of µs): check the run's
/// guard, and yield the CPU once. A message normally arrives long before that, so a round trip never gets here; but
/// when the two processes share a CPU with something else (a JIT thread, a build), pure spinning would burn a whole
/// time slice while the peer waits for that CPU, and throughput collapses by orders of magnitude.
/// </summary>
internal static class SpinYield
{
    public const int Interval = (1 << 14) - 1;

    public static void Pause(RunGuard guard)
    {
        guard.Check();
        Thread.Yield();
    }
}
