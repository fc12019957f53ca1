using IIC.Hardware;
using IIC.Tests;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 17 item 5 (round 9): the hypervisor unmaps released windows and refills its window pool on a helper thread at
/// SCHED_BATCH (never preempting on wake-up), off the event loop that serves the next connect; without the helper (IIC_HYPERVISOR_HELPER=0, or no
/// thread) the work is done inline as before; since round 23 the loop's spin after activity takes queued work one unit at a
/// time where it would yield. Real memfds and mappings; conditions are polled, never slept for.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class HypervisorHelperTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Without_a_helper_a_released_window_is_retired_at_once()
    {
        using var pool = new WindowPool(0);
        var helper = new HypervisorHelper(pool, "test", _ => { }, enabled: false);
        var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));

        helper.Retire(window);

        Assert.False(helper.IsRunning);
        Assert.Throws<ObjectDisposedException>(() => window.Lease());
        helper.Stop();
    }

    [Fact]
    public void The_helper_runs_at_SCHED_BATCH_fills_the_pool_and_unmaps_what_it_is_woken_for()
    {
        using var pool = new WindowPool(2);
        var helper = new HypervisorHelper(pool, "test", _ => { }, enabled: true);
        try
        {
            Assert.True(helper.IsRunning);
            WaitFor(() => pool.Count == 2, "the helper did not fill the pool");
            Assert.Equal(1, helper.ScheduledBatch);

            var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
            helper.Retire(window); // below the wake threshold: queued, handed over when the event loop idles (Wake)
            Assert.False(pool.NeedsRefill);
            helper.Wake();
            WaitFor(() => helper.RetiredCount == 0 && IsUnmapped(window), "the helper did not unmap the released window");
        }
        finally
        {
            helper.Stop();
        }
    }

    [Fact]
    public void The_event_loops_spin_takes_one_unit_of_queued_work_on_its_own_thread()
    {
        // Round 23: the loop's spin calls TryWorkOne where it would yield. A released window queued below the wake
        // threshold is closed on the calling thread (the helper is never woken for it), then the pool is refilled there.
        using var pool = new WindowPool(1);
        var helper = new HypervisorHelper(pool, "test", _ => { }, enabled: true);
        try
        {
            WaitFor(() => pool.Count == 1, "the helper did not fill the pool");
            Assert.True(pool.TryTake(WindowOptions.DefaultRingCapacity, out var taken)); // a grant took it: the pool wants one
            taken.Dispose();
            var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
            helper.Retire(window); // below WakeAtRetired: queued, the helper not woken

            Assert.True(helper.TryWorkOne());
            Assert.True(IsUnmapped(window));
            Assert.Equal(1, helper.RetiredBySpin);
            Assert.Equal(0, helper.RetiredCount);
            Assert.True(helper.TryWorkOne()); // nothing queued: the pool's refill, on this thread
            Assert.Equal(1, pool.Count);
            Assert.False(helper.TryWorkOne()); // nothing left
            Assert.Equal(0, helper.RetiredByHelper);
        }
        finally
        {
            helper.Stop();
        }
    }

    [Fact]
    public void Stopping_the_helper_unmaps_every_window_still_queued()
    {
        using var pool = new WindowPool(0);
        var helper = new HypervisorHelper(pool, "test", _ => { }, enabled: true);
        var windows = Enumerable.Range(0, HypervisorHelper.WakeAtRetired - 1).Select(_ => SharedWindow.Create(WindowOptions.WithCapacity(4096))).ToArray();
        foreach (var window in windows)
        {
            helper.Retire(window);
        }

        helper.Stop();

        Assert.All(windows, window => Assert.True(IsUnmapped(window), "a queued window outlived the helper's Stop"));
        var late = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        helper.Retire(late); // after Stop: inline
        Assert.True(IsUnmapped(late));
    }

    [Fact]
    public void A_hypervisor_unmaps_every_released_window_through_its_helper_and_keeps_only_its_pool()
    {
        using var host = PartitionHost.Start();
        var hypervisor = host.Hypervisor!;
        Assert.True(hypervisor.Helper.IsRunning);
        var service = PartitionHost.NewService();
        using var listener = host.Partition.Listen(service);
        for (var i = 0; i < 3 * HypervisorHelper.WakeAtRetired; i++)
        {
            using var connection = host.Partition.Connect(service, WindowOptions.DefaultRingCapacity, PartitionHost.Timeout);
            using var accepted = listener.Accept(PartitionHost.Timeout);
        }
        // Both sides released every grant; the loop's spin closes what it finds queued between its looks (round 23), the
        // hypervisor hands the rest over when it idles, and the helper closes that: every one, none twice.
        const int granted = 3 * HypervisorHelper.WakeAtRetired;
        WaitFor(() => hypervisor.GrantCount == 0 && hypervisor.Helper.RetiredByHelper + hypervisor.Helper.RetiredBySpin == granted,
            $"released windows stayed open: {hypervisor.Helper.RetiredByHelper} of {granted} retired by the helper, {hypervisor.Helper.RetiredBySpin} by the loop's spin, {hypervisor.Helper.RetiredCount} queued");
        Assert.Equal(1, hypervisor.Helper.ScheduledBatch);
    }

    private static bool IsUnmapped(SharedWindow window)
    {
        try
        {
            window.Lease().Dispose();
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    private static void WaitFor(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        var spin = new SpinWait();
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            spin.SpinOnce(); // yields, then sleeps 1 ms between looks: a bounded poll of a condition, not a timing assumption
        }
    }
}
