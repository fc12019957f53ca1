namespace IIC.Perf.Core;

/// <summary>
/// How a receiver waits. The shared-memory transports under test choose among the first four; each baseline
/// has exactly one, which is its nature (raw-shm spins, raw-futex parks, sockets and pipes block in the kernel).
/// </summary>
internal static class WaitModes
{
    /// <summary>Both sides busy-spin on shared memory.</summary>
    public const string Spin = "spin";

    /// <summary>Spin for a fixed budget, then park.</summary>
    public const string SpinPark = "spinpark";

    /// <summary>The receiver always sleeps (futex) until the sender wakes it.</summary>
    public const string Park = "park";

    /// <summary>Spin while traffic is active, park after real idleness (learned budget).</summary>
    public const string Adaptive = "adaptive";

    /// <summary>Blocking system calls (sockets, pipes): the kernel decides.</summary>
    public const string Block = "block";

    /// <summary>The modes a transport with a choice of wait strategies offers, in display order.</summary>
    public static IReadOnlyList<string> Selectable { get; } = [Spin, SpinPark, Park, Adaptive];
}
