using System.Diagnostics;
using IIC.Hardware;
using Xunit;
using Xunit.Abstractions;

namespace IIC.Tests;

/// <summary>
/// Issue 17 round 7: an idle receiver sleeps until rung. Everything a parked receiver must notice rings its page (a
/// message, the peer's close or death, a Dispose), so the default strategies park without a timeout; the old 100 ms
/// park timeout woke every idle receive thread ten times a second.
/// </summary>
public sealed class WaiterIdleTests(ITestOutputHelper output)
{
    // Long enough that a 100 ms park timeout would have ended at least three sleeps (the old behaviour fails here).
    private static readonly TimeSpan s_idle = TimeSpan.FromMilliseconds(350);

    [Theory]
    [InlineData("park")]
    [InlineData("adaptive")]
    [InlineData("spinpark:20")]
    public void Idle_receivers_sleep_until_rung_without_periodic_wake_ups(string strategyText)
    {
        const int receivers = 32;
        var strategy = WaitStrategy.Parse(strategyText);
        Assert.Equal(Timeout.InfiniteTimeSpan, strategy.ParkTimeout); // sleep until rung (round 8: no safety bound)
        var windows = new SharedWindow[receivers];
        var waiters = new Waiter[receivers];
        var flags = new StrongFlag[receivers];
        var results = new bool[receivers];
        var threads = new Thread[receivers];
        var tids = new int[receivers];
        try
        {
            for (var i = 0; i < receivers; i++)
            {
                windows[i] = SharedWindow.Create(WindowOptions.WithCapacity(4096));
                waiters[i] = new Waiter(strategy, windows[i].GetInterruptPage(0));
                flags[i] = new StrongFlag();
                var index = i;
                threads[i] = new Thread(() =>
                {
                    Volatile.Write(ref tids[index], ThreadId());
                    var target = new FlagTarget(flags[index]);
                    results[index] = waiters[index].Wait(ref target, Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency));
                }) { IsBackground = true };
                threads[i].Start();
            }
            WaitFor.Condition(() => waiters.All(w => w.Parks >= 1), "every receiver parked");

            var before = tids.Select(Scheduling).ToArray();
            var idleStart = Stopwatch.GetTimestamp();
            Thread.Sleep(s_idle); // the idle period under test, not synchronisation: nothing happens in it
            var idleSeconds = Stopwatch.GetElapsedTime(idleStart).TotalSeconds;
            var after = tids.Select(Scheduling).ToArray();
            var runNs = after.Zip(before, (a, b) => a.RunNs - b.RunNs).Sum();
            var switches = after.Zip(before, (a, b) => a.Slices - b.Slices).Sum();

            for (var i = 0; i < receivers; i++)
            {
                Volatile.Write(ref flags[i].Value, 1); // the data, then the doorbell (the raise is a full fence)
                windows[i].GetInterruptPage(0).Raise(0);
            }
            foreach (var thread in threads)
            {
                Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "a rung receiver returns");
            }
            Assert.All(results, Assert.True);
            var timeouts = waiters.Sum(w => w.ParkTimeouts);
            var parks = waiters.Sum(w => w.Parks);
            output.WriteLine($"{strategy}: {receivers} idle receivers for {idleSeconds * 1000:0} ms: {parks} parks, {timeouts} park timeouts; "
                + $"the receive threads ran {switches} times ({switches / idleSeconds / receivers:0.0}/s each) for {runNs / 1e3:0} µs of CPU ({100 * runNs / 1e9 / idleSeconds / receivers:0.0000} % of a CPU each; /proc schedstat)");
            // No timeout at all: with the old 100 ms park timeout at least 3 per receiver in the idle period alone, with
            // round 7's 1 s safety bound one per receiver per second the test ran.
            Assert.Equal(0, timeouts);
        }
        finally
        {
            foreach (var (flag, i) in flags.Select((f, i) => (f, i)))
            {
                if (flag is not null)
                {
                    Volatile.Write(ref flag.Value, 1);
                    windows[i]?.GetInterruptPage(0).WakeAlways();
                }
            }
            foreach (var thread in threads)
            {
                thread?.Join(TimeSpan.FromSeconds(30));
            }
            foreach (var window in windows)
            {
                window?.Dispose();
            }
        }
    }

    [Fact]
    public void A_given_park_timeout_still_bounds_each_sleep_and_a_deadline_bounds_an_untimed_one()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var page = window.GetInterruptPage(0);
        var never = new FlagTarget(new StrongFlag());

        // Ready only once the bound ended two sleeps (nothing else rings the page): without the bound the wait runs into
        // its 30 s deadline. Counted, not timed, so a loaded box only makes it slower.
        var bounded = new Waiter(WaitStrategy.CreateAdaptive(parkTimeout: TimeSpan.FromMilliseconds(5)), page);
        var twoTimeouts = new ConditionTarget(() => bounded.ParkTimeouts >= 2);
        Assert.True(bounded.Wait(ref twoTimeouts, Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency)), $"{bounded.ParkTimeouts} park timeouts in 30 s with a 5 ms bound");

        var untimed = new Waiter(WaitStrategy.Park, page);
        Assert.False(untimed.Wait(ref never, Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 50))); // 20 ms: the deadline ends it
        Assert.Throws<ArgumentOutOfRangeException>(() => WaitStrategy.CreateAdaptive(parkTimeout: TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => WaitStrategy.SpinThenPark(TimeSpan.Zero, TimeSpan.FromSeconds(11)));
        Assert.Equal(Timeout.InfiniteTimeSpan, WaitStrategy.SpinThenPark(TimeSpan.Zero, Timeout.InfiniteTimeSpan).ParkTimeout);
    }

    /// <summary>This thread's kernel id (from /proc/thread-self, a link to /proc/PID/task/TID).</summary>
    private static int ThreadId() => int.Parse(Path.GetFileName(new DirectoryInfo("/proc/thread-self").LinkTarget!), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A thread's time on a CPU (ns) and times it was scheduled in, from /proc/self/task/TID/schedstat.</summary>
    private static (long RunNs, long Slices) Scheduling(int tid)
    {
        var fields = File.ReadAllText($"/proc/self/task/{tid}/schedstat").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    private sealed class StrongFlag
    {
        public int Value;
    }

    private readonly struct ConditionTarget(Func<bool> condition) : IWaitTarget
    {
        public bool IsReady => condition();

        public void Arm()
        {
        }

        public void Disarm()
        {
        }
    }

    private readonly struct FlagTarget(StrongFlag flag) : IWaitTarget
    {
        public bool IsReady => Volatile.Read(ref flag.Value) != 0;

        public void Arm()
        {
        }

        public void Disarm()
        {
        }
    }
}
