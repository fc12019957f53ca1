using IIC.Hardware;

namespace IIC.Transport;

/// <summary>What a receiver's waiter knows of its last kernel wake-up, for diagnostics in this assembly's friends (IIC.Grpc's call trace).</summary>
internal static class WakeDiagnostics
{
    /// <summary>When <paramref name="waiter"/>'s thread ran after its last real wake (a Stopwatch timestamp; 0 if none yet).</summary>
    public static long LastWakeRunningAt(Waiter waiter) => waiter.LastWakeRunningAt;
}
