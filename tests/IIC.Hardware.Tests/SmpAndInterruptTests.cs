using System.Diagnostics;
using IIC.Native;

namespace IIC.Hardware.Tests;

public sealed class SmpTests
{
    [Theory]
    [InlineData("0", new[] { 0 })]
    [InlineData("0-3", new[] { 0, 1, 2, 3 })]
    [InlineData("0-1,4,6-7", new[] { 0, 1, 4, 6, 7 })]
    [InlineData(" 2 , 5-5 \n", new[] { 2, 5 })]
    [InlineData("", new int[0])]
    public void ParseCpuList_reads_sys_lists(string text, int[] expected) => Assert.Equal(expected, Smp.ParseCpuList(text));

    [Theory]
    [InlineData("3-1")]
    [InlineData("a")]
    [InlineData("1-")]
    [InlineData("0-100000")]
    public void ParseCpuList_refuses_garbage(string text) => Assert.Throws<FormatException>(() => Smp.ParseCpuList(text));

    [Fact]
    public void Host_facts_are_sane()
    {
        Assert.InRange(Smp.CacheLineSize, 16, 1024);
        Assert.Equal(0, Smp.CacheLineSize & (Smp.CacheLineSize - 1));
        Assert.True(Smp.PaddedLineSize >= Smp.CacheLineSize);
        Assert.True(Smp.NumaNodeCount >= 1);
        Assert.Equal(Environment.ProcessorCount, Smp.LogicalCpuCount);
        var all = Smp.Cores.SelectMany(c => c).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.True(Smp.Cores.Count >= 1 && Smp.Cores.Count <= Smp.LogicalCpuCount);
    }

    [Fact]
    public void PickSpinningCpus_picks_distinct_cpus_on_distinct_cores_first()
    {
        var count = Math.Min(Smp.LogicalCpuCount, 2);
        var picked = Smp.PickSpinningCpus(count);
        Assert.Equal(count, picked.Count);
        Assert.Equal(count, picked.Distinct().Count());
        if (Smp.Cores.Count >= count)
        {
            var cores = picked.Select(cpu => Smp.Cores.Select((c, i) => (c, i)).First(x => x.c.Contains(cpu)).i);
            Assert.Equal(count, cores.Distinct().Count());
        }
        var everything = Smp.PickSpinningCpus(Smp.LogicalCpuCount);
        Assert.Equal(Smp.LogicalCpuCount, everything.Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => Smp.PickSpinningCpus(0));
    }
}

public sealed class InterruptTests
{
    [Fact]
    public void Doorbell_is_suppressed_while_the_reader_spins_and_raises_only_on_a_zero_to_one_edge()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var writer = window.GetRing(0).CreateWriter();
        var reader = window.GetRing(0).CreateReader();
        var page = window.GetInterruptPage(1);
        var doorbell = new Doorbell(writer, page, window.GetVector(1));
        doorbell.Ring();
        Assert.Equal(1, doorbell.SignalsSuppressed);
        Assert.False(page.HasPending, "an unarmed reader gets no pending bit: no shared write at all");
        reader.Arm();
        Assert.True(reader.IsArmed);
        doorbell.Ring();
        Assert.True(page.HasPending);
        Assert.Equal(0, doorbell.SignalsRaised); // nobody sleeping: no futex_wake
        doorbell.Ring();
        Assert.Equal(3, doorbell.SignalsSuppressed); // unarmed, armed with nobody asleep, and a repeat of a pending bit
        Assert.Equal(0, doorbell.SignalsRaised);
        Span<long> taken = stackalloc long[1];
        page.TakePending(taken);
        Assert.Equal(1L << window.GetVector(1), taken[0]);
        Assert.False(page.HasPending);
        reader.Disarm();
        Assert.False(reader.IsArmed);
    }

    [Fact]
    public void TakePendingWords_returns_only_the_raised_words_and_reads_a_hostile_summary_once()
    {
        // A group receiver reads only the words this returns (issue 17: finding the raised vector costs the raised words,
        // not the page's 64 nor the N channels): so every returned word must be overwritten, never left as stale scratch.
        using var group = InterruptGroup.Create("wake-test");
        var page = group.Page;
        var scratch = new long[InterruptPage.MaxVectorCount / 64];
        Array.Fill(scratch, -1L);
        page.Raise(70);
        page.Raise(4095);
        Assert.Equal((1UL << 1) | (1UL << 63), page.TakePendingWords(scratch));
        Assert.Equal(1L << 6, scratch[1]);
        Assert.Equal(long.MinValue, scratch[63]);
        Assert.False(page.HasPending);
        Assert.Equal(0UL, page.TakePendingWords(scratch));

        // The peer shares the page: a summary claiming every word, with one real bit behind it. Each claimed word is
        // taken (0 where nothing was raised), none is reported from old scratch.
        Array.Fill(scratch, -1L);
        page.Raise(200);
        using (var file = new Microsoft.Win32.SafeHandles.SafeFileHandle(group.File.Value, ownsHandle: false))
        {
            RandomAccess.Write(file, BitConverter.GetBytes(-1L), InterruptPage.SummaryOffset);
        }
        Assert.Equal(ulong.MaxValue, page.TakePendingWords(scratch));
        for (var word = 0; word < scratch.Length; word++)
        {
            Assert.Equal(word == 3 ? 1L << 8 : 0, scratch[word]);
        }
        Assert.Throws<ArgumentException>(() => page.TakePendingWords(new long[63]));
    }

    [Fact]
    public void Raise_wakes_a_sleeper_and_stamps_the_wake_time()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var page = window.GetInterruptPage(0);
        var sequence = page.ReadSequence();
        page.AnnounceSleep();
        var sleeper = new Thread(() => page.Sleep(sequence, TimeSpan.FromSeconds(10)));
        var start = Stopwatch.GetTimestamp();
        sleeper.Start();
        Assert.True(page.Raise(5), "a sleeping receiver is woken");
        Assert.True(sleeper.Join(TimeSpan.FromSeconds(10)));
        Assert.True(Stopwatch.GetElapsedTime(start) < TimeSpan.FromSeconds(5));
        Assert.NotEqual(sequence, page.ReadSequence());
        Assert.True(page.ReadRaisedAt() >= start);
        Assert.False(page.Raise(5), "the bit is still pending: no second wake");
        Assert.Throws<ArgumentOutOfRangeException>(() => page.Raise(64));
    }

    [Fact]
    public void Sleep_times_out_when_nobody_raises()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        var page = window.GetInterruptPage(0);
        var start = Stopwatch.GetTimestamp();
        page.AnnounceSleep();
        Assert.Equal(FutexWaitResult.TimedOut, page.Sleep(page.ReadSequence(), TimeSpan.FromMilliseconds(20)));
        Assert.True(Stopwatch.GetElapsedTime(start) >= TimeSpan.FromMilliseconds(19));
    }

    [Theory]
    [InlineData("spin", WaitKind.BusySpin)]
    [InlineData("park", WaitKind.Park)]
    [InlineData("adaptive", WaitKind.Adaptive)]
    [InlineData("spinpark:20", WaitKind.SpinThenPark)]
    public void WaitStrategy_parses_and_prints(string text, WaitKind kind)
    {
        var strategy = WaitStrategy.Parse(text);
        Assert.Equal(kind, strategy.Kind);
        Assert.Equal(text, strategy.ToString());
    }
}
