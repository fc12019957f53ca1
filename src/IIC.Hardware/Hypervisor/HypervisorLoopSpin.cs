using System.Diagnostics;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The event loop's wait policy: after a turn in which a partition spoke it keeps polling without sleeping for a while
/// (yielding in between, or since round 23 doing one unit of the helper's queued work), so the next request of a connection cycle finds it awake; otherwise it sleeps in poll. The
/// loop itself is in HypervisorEventLoop.cs.
/// </summary>
public sealed partial class Hypervisor
{
    /// <summary>
    /// How long the event loop keeps looking (poll without waiting, yielding the CPU in between) after a turn in which
    /// a partition spoke, before it sleeps: a connection cycle's next request (the Connect that follows a close's
    /// Release, the second Release) then finds the loop awake instead of paying a kernel wake-up (30-50 µs on a VM
    /// whose other CPU idles) on the connector's path. Only after activity (an idle hypervisor sleeps at once, as
    /// before), none on a single CPU; it ends at the deadline even when yields return late (see
    /// <see cref="StopOnContendedYield"/> for the cut of rounds 10-12). <c>IIC_HYPERVISOR_SPIN_US</c> sets it in microseconds (0: sleep at once, the
    /// behaviour before), for A/B measurements.
    /// </summary>
    internal static long SpinTicks { get; } = ParseSpin(Environment.GetEnvironmentVariable("IIC_HYPERVISOR_SPIN_US"));

    private const int DefaultSpinMicroseconds = 100;

    /// <summary>A yield longer than this (20 µs) ran another thread on our CPU (the spin stops if <see cref="StopOnContendedYield"/>).</summary>
    private static readonly long s_contendedYieldTicks = Stopwatch.Frequency / 50_000;

    /// <summary>
    /// Whether a yield that lost the CPU for more than 20 µs ends the spin (<c>IIC_HYPERVISOR_SPIN_CONTENDED=stop</c>, the
    /// behaviour of rounds 10-12) or the loop spins on to the end of its window (the default since round 13). The round-11
    /// trace of the main job's connect row (perf/results/round11/connect/timeline-perf-row-after.txt) has the loop asleep
    /// 27 µs into the median cycle, right after its grant: the listener the grant wakes is placed on the loop's CPU (a unix
    /// socket's wake-up is a sync wake-up, placed on the waker's CPU when that runs nothing else), runs there for its
    /// 30-40 µs of map, open and accept, and the loop's next yield returns after it, which ended the spin. The pair's
    /// Releases and the next Connect then had to wake the loop, and a sync wake-up from the connector places it on the
    /// connector's CPU. Spinning on keeps the loop awake on its own CPU through the cycle: a yielding spinner gives way to
    /// every thread runnable there (on the kernel's EEVDF scheduler each yield moves its deadline back by a slice), and the
    /// spin still ends 100 µs after the last turn in which a partition spoke, however late the yields return. Alone it did
    /// not separate in round 13's quiet A/B (a cycle longer than the spin still lets the loop sleep after its grant); with
    /// the listener's accept spin and the caller's spin run to its end it is part of the defaults measured there.
    /// </summary>
    internal static bool StopOnContendedYield { get; } = Environment.GetEnvironmentVariable("IIC_HYPERVISOR_SPIN_CONTENDED") == "stop";

    /// <summary>
    /// Whether the loop's spin does the helper's queued work (closing released windows, refilling the pool) one unit per
    /// look instead of yielding (round 23, <see cref="HypervisorHelper.TryWorkOne"/>). In a connection cycle the loop spins
    /// through the partitions' round trip and close anyway, and each cycle brings one window to retire and one to make: done
    /// there, the helper is never woken for them (before: 0.4 helper wake-ups per cycle, its CPU taken beside three
    /// runnable threads on two CPUs). A request that arrives during a unit waits for it (a close or a refill, a few to
    /// 15 µs); the helper still takes what is left when the loop goes idle or the thresholds are crossed.
    /// <c>IIC_HYPERVISOR_SPIN_WORK=0</c> restores the yield (every unit on the helper), for A/B runs.
    /// </summary>
    internal static bool SpinWorks { get; } = Environment.GetEnvironmentVariable("IIC_HYPERVISOR_SPIN_WORK") != "0";

    private long _activeUntil; // Stopwatch ticks until which the loop spins rather than sleeps (0: no partition spoke last turn)
    private bool _grantedThisTurn; // a grant was sent this turn (SleepAfterGrant)

    /// <summary>
    /// Opt-in (<c>IIC_HYPERVISOR_SLEEP_AFTER_GRANT=1</c>, for the lead's quiet A/B): a turn that sent a grant ends the
    /// loop's spin. The round-11 trace of the main job's connect shape (a listener on its own thread) shows the loop
    /// spinning out its 100 µs after a grant while the connector, yielding for its <c>Connected</c>, waits for a CPU
    /// beside the woken listener, and the pair's Releases come after the spin has ended anyway; but in ConnectBench's
    /// one-thread cycle (shorter than the spin) it cost 0.6-1.2 more loop sleeps per cycle. Off by default.
    /// </summary>
    internal static bool SleepAfterGrant { get; } = Environment.GetEnvironmentVariable("IIC_HYPERVISOR_SLEEP_AFTER_GRANT") == "1";

    private static long ParseSpin(string? text)
    {
        var microseconds = int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value)
            ? Math.Min(value, 10_000)
            : DefaultSpinMicroseconds;
        return Environment.ProcessorCount > 1 ? microseconds * Stopwatch.Frequency / 1_000_000 : 0;
    }

    /// <summary>Polls <paramref name="entries"/>: without waiting while the loop spins after activity (<see cref="SpinTicks"/>), then up to <paramref name="timeout"/>.</summary>
    private int PollOrSpin(Span<PollEntry> entries, TimeSpan timeout)
    {
        if (_activeUntil != 0 && timeout != TimeSpan.Zero)
        {
            while (true)
            {
                var ready = Poll.Wait(entries, TimeSpan.Zero);
                var now = Stopwatch.GetTimestamp();
                if (ready != 0 || now >= _activeUntil || _stopping)
                {
                    return ready != 0 ? MarkReady(ready) : SleepInPoll(entries, timeout);
                }
                if (SpinWorks && _helper.TryWorkOne())
                {
                    continue; // one unit of the helper's work instead of a yield: look again at once
                }
                Thread.Yield();
                if (StopOnContendedYield && Stopwatch.GetTimestamp() - now > s_contendedYieldTicks)
                {
                    break; // another thread needed this CPU: sleep, and let the kernel wake us
                }
            }
        }
        return SleepInPoll(entries, timeout);
    }

    /// <summary>The loop's poll that may sleep, stamped for the connect timeline (ConnectTrace) when that is on.</summary>
    private static int SleepInPoll(Span<PollEntry> entries, TimeSpan timeout)
    {
        if (timeout != TimeSpan.Zero)
        {
            ConnectTrace.Mark(ConnectStep.HypervisorSleeps);
        }
        return MarkReady(Poll.Wait(entries, timeout));
    }

    private static int MarkReady(int ready)
    {
        if (ready != 0)
        {
            ConnectTrace.Mark(ConnectStep.HypervisorReady);
        }
        return ready;
    }
}
