using System.Globalization;

namespace IIC.Hardware;

/// <summary>How a receiver waits for data.</summary>
public enum WaitKind
{
    /// <summary>Spin until data arrives: lowest latency, burns a CPU the whole time.</summary>
    BusySpin,
    /// <summary>Spin for a fixed budget, then sleep until a sender's doorbell wakes it.</summary>
    SpinThenPark,
    /// <summary>Sleep at once: every message costs a kernel wake-up (40-100 µs on a VM), no CPU while idle.</summary>
    Park,
    /// <summary>
    /// Learns the platform's wake-up latency and the traffic's arrival gaps: spins while traffic is active
    /// and the expected gap is well below the cost of a wake-up, parks after real idleness. The default.
    /// </summary>
    Adaptive,
}

/// <summary>
/// A receiver's wait policy: immutable and shareable; each receiver keeps its own learned state in a <see cref="Waiter"/>.
/// </summary>
public sealed class WaitStrategy
{
    private WaitStrategy(WaitKind kind, TimeSpan spinBudget, TimeSpan maxSpinBudget, TimeSpan parkTimeout)
    {
        Kind = kind;
        SpinBudget = spinBudget;
        MaxSpinBudget = maxSpinBudget;
        ParkTimeout = parkTimeout;
    }

    /// <summary>Spin until data arrives.</summary>
    public static WaitStrategy BusySpin { get; } = new(WaitKind.BusySpin, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    /// <summary>Sleep at once, until rung.</summary>
    public static WaitStrategy Park { get; } = new(WaitKind.Park, TimeSpan.Zero, TimeSpan.Zero, DefaultTimeout);

    /// <summary>The default: adaptive with a 1 ms spin ceiling; a park sleeps until rung.</summary>
    public static WaitStrategy Adaptive { get; } = CreateAdaptive();

    /// <summary>
    /// 100 ms: the park timeout every strategy had before issue 17 round 7, and the async dispatcher's longest sleep
    /// until round 8. Nothing uses it now: a park sleeps until rung unless a strategy is given a <see cref="ParkTimeout"/>,
    /// because everything a parked receiver must notice rings its page (a message, the peer's close, the peer's death
    /// marked by the pidfd death watcher or the hypervisor, a Dispose or a cancellation on another thread, the end of a
    /// pending async receive).
    /// </summary>
    public static TimeSpan DefaultParkTimeout => TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The default park timeout: none (<see cref="Timeout.InfiniteTimeSpan"/>), sleep until rung. Round 7 and early
    /// round 8 had a 1 s safety bound because two waiters on one channel (a blocking and an asynchronous receive) shared
    /// the ring's one "armed" flag and the interrupt block's one "sleeping" flag, and the first to end cleared them under
    /// the other. Both are counted per waiter now (<c>WindowEndpoint.ArmReceive</c>, <see cref="InterruptPage.AnnounceSleep"/>),
    /// so the bound is gone and an idle receiver never wakes.
    /// </summary>
    internal static TimeSpan DefaultTimeout => Timeout.InfiniteTimeSpan;

    /// <summary>The kind.</summary>
    public WaitKind Kind { get; }

    /// <summary>
    /// The fixed spin budget (SpinThenPark), or the least an adaptive receiver spins while traffic flows (Adaptive: 200 µs,
    /// or the ceiling if lower), so that a hiccup of the peer does not cost a kernel wake-up.
    /// </summary>
    public TimeSpan SpinBudget { get; }

    /// <summary>The most an adaptive receiver spins before parking, however busy the traffic.</summary>
    public TimeSpan MaxSpinBudget { get; }

    /// <summary>
    /// The longest single sleep before the receiver re-checks its ring and its peer's state, or
    /// <see cref="Timeout.InfiniteTimeSpan"/> (the default) to sleep until rung: an idle receiver then never wakes.
    /// </summary>
    public TimeSpan ParkTimeout { get; }

    /// <summary>Spin for <paramref name="spinBudget"/>, then park (until rung, or at most <paramref name="parkTimeout"/> per sleep; default: until rung).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative budget, or a timeout that is neither positive and at most 10 s nor infinite.</exception>
    public static WaitStrategy SpinThenPark(TimeSpan spinBudget, TimeSpan? parkTimeout = null)
    {
        CheckNonNegative(spinBudget, nameof(spinBudget));
        return new WaitStrategy(WaitKind.SpinThenPark, spinBudget, spinBudget, CheckTimeout(parkTimeout));
    }

    /// <summary>Adaptive waiting (see <see cref="WaitKind.Adaptive"/>).</summary>
    /// <param name="maxSpinBudget">The most it spins before parking (default 1 ms): bounds the CPU an idle receiver burns.</param>
    /// <param name="parkTimeout">The longest single sleep (default: none, sleep until rung; at most 10 s).</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative budget, or a timeout that is neither positive and at most 10 s nor infinite.</exception>
    public static WaitStrategy CreateAdaptive(TimeSpan? maxSpinBudget = null, TimeSpan? parkTimeout = null)
    {
        var max = maxSpinBudget ?? TimeSpan.FromMilliseconds(1);
        CheckNonNegative(max, nameof(maxSpinBudget));
        return new WaitStrategy(WaitKind.Adaptive, TimeSpan.FromMicroseconds(200) < max ? TimeSpan.FromMicroseconds(200) : max, max, CheckTimeout(parkTimeout));
    }

    /// <summary>Parses "spin", "spinpark[:µs]", "park" or "adaptive" (as the CLI and benchmarks accept).</summary>
    /// <exception cref="FormatException">Not one of those.</exception>
    public static WaitStrategy Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(':', 2);
        switch (parts[0].ToUpperInvariant())
        {
            case "SPIN" or "BUSYSPIN":
                return BusySpin;
            case "PARK":
                return Park;
            case "ADAPTIVE":
                return Adaptive;
            case "SPINPARK" or "SPINTHENPARK":
                var micros = parts.Length > 1 ? double.Parse(parts[1], CultureInfo.InvariantCulture) : 50;
                return SpinThenPark(TimeSpan.FromMicroseconds(micros));
            default:
                throw new FormatException($"Unknown wait strategy '{text}': use spin, spinpark[:microseconds], park or adaptive.");
        }
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        WaitKind.SpinThenPark => string.Create(CultureInfo.InvariantCulture, $"spinpark:{SpinBudget.TotalMicroseconds}"),
        WaitKind.BusySpin => "spin",
        WaitKind.Park => "park",
        _ => "adaptive",
    };

    private static void CheckNonNegative(TimeSpan value, string name)
    {
        if (value < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, "A spin budget cannot be negative; use TimeSpan.Zero to park at once.");
        }
    }

    private static TimeSpan CheckTimeout(TimeSpan? timeout)
    {
        var value = timeout ?? DefaultTimeout;
        if (value != Timeout.InfiniteTimeSpan && (value <= TimeSpan.Zero || value > TimeSpan.FromSeconds(10)))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), value, "A park timeout must be positive and at most 10 s, or Timeout.InfiniteTimeSpan (the default) to sleep until rung.");
        }
        return value;
    }
}
