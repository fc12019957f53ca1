using System.Diagnostics;
using System.Text;
using IIC.Tests;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// The pieces of the spin-for-reply policy that can be driven without a scheduler: the learned reply time and the
/// budget it gives (<see cref="ReplyTimeLearning"/>), and the parsing of /proc/loadavg by the spare-CPU probe
/// (<see cref="SpareCpu"/>); plus the probe against real busy threads.
/// </summary>
[Collection(nameof(ConnectionPumpTests))] // busy threads: not next to other tests
public class ReplySpinLearningTests
{
    private static readonly long s_microsecond = Stopwatch.Frequency / 1_000_000;

    [Fact]
    public void Replies_slower_than_half_the_limit_still_get_a_spin_capped_at_the_limit()
    {
        // Round 4's rule gave no spin at all once twice the learned time passed the limit: replies of 200 µs under a
        // 300 µs limit were never spun for, so they kept paying a wake-up and stayed slow.
        var learning = new ReplyTimeLearning(300 * s_microsecond, 10 * s_microsecond);
        for (var i = 0; i < 100; i++)
        {
            learning.Learn(200 * s_microsecond);
        }
        Assert.Equal(300 * s_microsecond, learning.BudgetTicks);

        for (var i = 0; i < 100; i++)
        {
            learning.Learn(40 * s_microsecond);
        }
        var budget = learning.BudgetTicks;
        Assert.InRange(budget, 70 * s_microsecond, 90 * s_microsecond); // twice the learned ~40 µs
    }

    [Fact]
    public void When_most_replies_come_later_than_the_limit_it_stops_spinning_and_resumes_when_they_come_back()
    {
        var learning = new ReplyTimeLearning(300 * s_microsecond, 10 * s_microsecond);
        for (var i = 0; i < 100; i++)
        {
            learning.Learn(5_000 * s_microsecond); // the peer thinks for 5 ms: a spin would never catch it
        }
        Assert.Equal(0, learning.BudgetTicks);
        Assert.True(learning.Payoff < ReplyTimeLearning.MinPayoff);

        // Replies are still learned while it parks (the receive thread times every owed reply), so it comes back.
        var rounds = 0;
        while (learning.BudgetTicks == 0)
        {
            learning.Learn(50 * s_microsecond);
            Assert.True(++rounds < 20, "fast replies did not bring the spin back within 20 replies");
        }
        Assert.True(learning.BudgetTicks > 0);
    }

    [Fact]
    public void One_very_late_reply_does_not_swamp_the_learned_time()
    {
        var learning = new ReplyTimeLearning(300 * s_microsecond, 10 * s_microsecond);
        for (var i = 0; i < 100; i++)
        {
            learning.Learn(50 * s_microsecond);
        }
        learning.Learn(10_000_000 * s_microsecond); // a 10 s pause between calls
        Assert.True(learning.BudgetTicks > 0, "one idle pause switched the spin off");
    }

    [Theory]
    [InlineData("0.45 4.43 5.88 3/122 8042\n", 3)]
    [InlineData("12.50 9.30 7.63 22/296 9818", 22)]
    [InlineData("0.00 0.00 0.00 1/1 1\n", 1)]
    [InlineData("0.45 4.43 5.88 /122 8042\n", -1)]
    [InlineData("0.45 4.43 5.88 x3/122 8042\n", -1)]
    [InlineData("0.45 4.43 3/122\n", -1)]
    [InlineData("0.45 4.43 5.88 3122 8042\n", -1)]
    [InlineData("0.45 4.43 5.88 99999999999/122 8042\n", -1)]
    [InlineData("", -1)]
    public void The_probe_reads_the_runnable_count_of_a_loadavg_line_and_rejects_anything_else(string line, int expected)
        => Assert.Equal(expected, SpareCpu.ParseRunnable(Encoding.ASCII.GetBytes(line)));

    [Fact]
    public void With_more_busy_threads_than_CPUs_plus_one_the_probe_reports_a_crowd()
    {
        using var probe = new SpareCpu();
        Assert.True(probe.RunnableNow() >= 1, "this test runs on Linux with /proc/loadavg; the probe read nothing"); // the caller itself
        using var busy = new BusyThreads(Environment.ProcessorCount + 2);
        WaitFor.Condition(probe.Crowded, $"the probe seeing {Environment.ProcessorCount + 2} busy threads on {Environment.ProcessorCount} CPUs as a crowd",
            TimeSpan.FromSeconds(30), () => $"runnable now: {probe.RunnableNow()}");
    }
}

/// <summary>Threads that keep CPUs busy (runnable all the time) until disposed.</summary>
internal sealed class BusyThreads : IDisposable
{
    private readonly Thread[] _threads;
    private volatile bool _stop;

    public BusyThreads(int count)
    {
        _threads = new Thread[count];
        for (var i = 0; i < count; i++)
        {
            _threads[i] = new Thread(() =>
            {
                while (!_stop)
                {
                    Thread.SpinWait(1000);
                }
            }) { IsBackground = true, Name = "busy " + i };
            _threads[i].Start();
        }
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var thread in _threads)
        {
            thread.Join();
        }
    }
}
