using IIC.Hardware;

namespace IIC.Transport;

/// <summary>
/// How a receiver waited: a snapshot of its waiter's counters and what an adaptive waiter has learned.
/// Each value is read once; they are not taken atomically together.
/// </summary>
public readonly record struct WaitStatistics
{
    /// <summary>Waits that ended while spinning (no syscall).</summary>
    public long SpinHits { get; init; }

    /// <summary>Waits that slept on the futex.</summary>
    public long Parks { get; init; }

    /// <summary>Sleeps that ended by the park timeout rather than a doorbell (a lost wake-up would show here).</summary>
    public long ParkTimeouts { get; init; }

    /// <summary>Times the waiter backed off after a run of wakes that brought nothing (a peer flooding the interrupt page).</summary>
    public long SpuriousBackoffs { get; init; }

    /// <summary>The measured wake-up latency (smoothed): how long a doorbell takes to wake a parked receiver.</summary>
    public TimeSpan WakeLatency { get; init; }

    /// <summary>The latest wake-up latency, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    public long LastWakeLatencyTicks { get; init; }

    /// <summary>How long the next wait spins before it parks.</summary>
    public TimeSpan SpinBudget { get; init; }

    /// <summary>The wait strategy.</summary>
    public WaitStrategy Strategy { get; init; }

    internal static WaitStatistics Of(Waiter waiter) => new()
    {
        SpinHits = waiter.SpinHits,
        Parks = waiter.Parks,
        ParkTimeouts = waiter.ParkTimeouts,
        SpuriousBackoffs = waiter.SpuriousBackoffs,
        WakeLatency = waiter.WakeLatency,
        LastWakeLatencyTicks = waiter.LastWakeLatencyTicks,
        SpinBudget = waiter.CurrentSpinBudget,
        Strategy = waiter.Strategy,
    };
}
