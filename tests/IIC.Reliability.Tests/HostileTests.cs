using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;
using IIC.Transport;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// A hostile child partition that connects normally, then writes into the shared window (it has it mapped), or
/// floods this process's interrupt block with spurious wakes; and a child that tries to resize its window.
/// This process is the victim: a crash would kill the test host, which is itself the failure.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class HostileTests(ITestOutputHelper output)
{
    private const int Ring = 64 * 1024;
    private static readonly TimeSpan s_perSeed = TimeSpan.FromSeconds(10);

    /// <summary>Seeds that once failed, kept as named regression cases (none so far; add any failing seed here).</summary>
    private static readonly int[] s_regressionSeeds = [];

    /// <summary>Targeted modes (HostileSeeds.TargetedMode) and the outcome each must have (see ReliabilityScenarios.Scribble).</summary>
    private static readonly string[] s_expected =
    [
        "fault", "fault", "fault", "fault", "fault", "fault", "fault",
        "fault", // a chain of short padding: padding always reaches the end of the data area (layout version 2)
        "fault", "fault", "fault",
        "clean", // a garbage interrupt block only causes spurious wakes
        "dead",  // an impossible side state reads as dead
        "fault",
    ];

    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> s_faults = new();

    [Fact]
    public void Scribbling_peer_random_and_targeted_seeds_are_contained_and_named_and_another_channel_keeps_working()
    {
        using var faults = new GrantFaultListener(s_faults);
        while (s_faults.TryDequeue(out _))
        {
        }
        var seeds = Knobs.Get("IIC_HOSTILE_SEEDS", 600);
        using var host = PartitionHost.Start();
        // A healthy channel to another child runs both ways the whole time.
        var (healthy, healthyChannels) = host.StartChild("rel-duplex", Ring, 1, null,
            "1", "adaptive", "0", "8192", "3600", long.MaxValue.ToString(CultureInfo.InvariantCulture), "0");
        var healthyChannel = healthyChannels[0];
        long healthyReceived = 0;
        var stopHealthy = 0;
        Exception? healthyReceive = null, healthySend = null;
        var healthyReceiver = new Thread(() => healthyReceive = Catch(() => SoakRunner.Receive(healthyChannel, 0, 8192, TimeSpan.FromSeconds(30), n => Volatile.Write(ref healthyReceived, n))));
        var healthySender = new Thread(() => healthySend = Catch(() => SoakRunner.Send(healthyChannel, 1, 8192, long.MaxValue, long.MaxValue, _ => { if (Volatile.Read(ref stopHealthy) != 0) { throw new OperationCanceledException(); } })));
        healthyReceiver.Start();
        healthySender.Start();

        var service = PartitionHost.NewService();
        using var listener = IicListener.Listen(host.Partition, service, new ChannelOptions { RingCapacity = Ring });
        var hostile = ChildProcess.Start("rel-hostile", host.Name, host.SocketDirectory, service, Ring.ToString(CultureInfo.InvariantCulture), "0", seeds.ToString(CultureInfo.InvariantCulture));
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var started = Stopwatch.GetTimestamp();
        int memfdBaseline = ProcSelf.IicMemfdDescriptors(), mapBaseline = ProcSelf.IicMappings();
        try
        {
            foreach (var seed in s_regressionSeeds.Concat(Enumerable.Range(0, seeds)).Distinct().Order())
            {
                var outcome = RunSeed(listener, hostile, seed);
                var key = outcome.Split(':', '[')[0].Trim();
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                var mode = HostileSeeds.TargetedMode(seed);
                if (mode >= 0 && !outcome.StartsWith("fault at accept", StringComparison.Ordinal))
                {
                    var expected = s_expected[mode];
                    Assert.True(outcome.StartsWith(expected, StringComparison.Ordinal), $"seed {seed}: expected a {expected} outcome, got {outcome}");
                }
                if (seed < 3 || seed is >= 40 and < 54)
                {
                    output.WriteLine($"seed {seed}: {outcome}");
                }
            }
            Assert.Equal("finished", hostile.ReadLine(s_perSeed));
            hostile.AssertExit(0, s_perSeed);
            // Every faulted window was unmapped and closed, including those refused at accept.
            WaitFor.Condition(() => ProcSelf.IicMemfdDescriptors() == memfdBaseline && ProcSelf.IicMappings() == mapBaseline,
                "the hostile channels' windows to be released", diagnostics: () => $"memfd descriptors {ProcSelf.IicMemfdDescriptors()} (baseline {memfdBaseline}), mappings {ProcSelf.IicMappings()} (baseline {mapBaseline})");

            // The healthy channel worked all along and still does: its streams carried on through every seed.
            var before = Volatile.Read(ref healthyReceived);
            WaitFor.Condition(() => Volatile.Read(ref healthyReceived) > before + 100 || healthyReceive is not null, "the healthy channel to keep delivering after the hostile seeds", TimeSpan.FromSeconds(20), healthy.ToString);
            Assert.Null(healthyReceive);
            Assert.Null(healthySend);
            Assert.Equal(0, healthyChannel.GetStatistics().Faults);
            output.WriteLine($"{seeds} seeds in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s: {string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}; the healthy channel delivered {Volatile.Read(ref healthyReceived)} checked messages meanwhile");
        }
        finally
        {
            hostile.Dispose();
            Volatile.Write(ref stopHealthy, 1);
            healthy.Dispose(); // first: the healthy threads end with PeerDead before their channel is disposed
            healthyReceiver.Join(TimeSpan.FromSeconds(20));
            healthySender.Join(TimeSpan.FromSeconds(20));
            healthyChannel.Dispose();
        }
    }

    /// <summary>
    /// One seed: receive (checking every message) until a fault, or until the hostile child is done and nothing
    /// more arrives; then send until the ring is full (the writer re-reads the head the hostile may have lied about).
    /// Returns "clean", "garbage: ..." (delivered bytes the checksum caught), "fault: ...", or "dead: ...".
    /// </summary>
    private static string RunSeed(IicListener listener, ChildProcess hostile, int seed)
    {
        var done = string.Create(CultureInfo.InvariantCulture, $"done {seed} ");
        IicChannel channel;
        try
        {
            var acceptStarted = Stopwatch.GetTimestamp();
            IicChannel? accepted = null;
            while (accepted is null)
            {
                try
                {
                    accepted = listener.Accept(TimeSpan.FromMilliseconds(200));
                }
                catch (TimeoutException)
                {
                    // The hostile child may have corrupted the window (an interrupt block's header) before our partition
                    // opened it, or its rings before our listener opened a channel on it: the partition (or the
                    // listener) refuses the connection, releases it and traces a protocol fault; Accept waits on for
                    // the next connection.
                    if (s_faults.TryDequeue(out var refused))
                    {
                        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"connected {seed}"), hostile.ReadLine(s_perSeed));
                        return Finish("fault at grant: " + refused);
                    }
                    Assert.False(hostile.Process.HasExited, $"The hostile child exited.{Environment.NewLine}{hostile}");
                    Assert.True(Stopwatch.GetElapsedTime(acceptStarted) < PartitionHost.Timeout, $"seed {seed}: no connection and no refusal within {PartitionHost.Timeout.TotalSeconds} s.{Environment.NewLine}{hostile}");
                }
            }
            channel = accepted;
        }
        catch (RingFaultException e)
        {
            // The hostile child scribbled before our side attached: the endpoint refuses the window at once.
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"connected {seed}"), hostile.ReadLine(s_perSeed));
            Assert.Contains("is corrupt: ", e.Message, StringComparison.Ordinal);
            return Finish("fault at accept: " + e.Message);
        }
        using var owned = channel;
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"connected {seed}"), hostile.ReadLine(s_perSeed));
        var buffer = new byte[HostileMaxSize];
        var started = Stopwatch.GetTimestamp();
        long sequence = 0;
        string outcome;
        try
        {
            while (true)
            {
                Assert.True(Stopwatch.GetElapsedTime(started) < s_perSeed, $"seed {seed}: the victim's receive did not settle within {s_perSeed.TotalSeconds} s (hang?)");
                var finished = hostile.StandardOutput.Contains(done, StringComparison.Ordinal);
                if (!channel.TryReceive(buffer, out var length, TimeSpan.FromMilliseconds(20)))
                {
                    if (finished)
                    {
                        break;
                    }
                    continue;
                }
                if (SoakPattern.Check(buffer.AsSpan(0, length), seed, sequence, HostileMaxSize) is { } problem)
                {
                    return Finish("garbage: " + problem);
                }
                sequence++;
            }
            var filler = new byte[1024];
            for (var i = 0; i < 4 * Ring / filler.Length && channel.TrySend(filler); i++)
            {
            }
            outcome = "clean";
        }
        catch (RingFaultException e)
        {
            Assert.Contains("is corrupt: ", e.Message, StringComparison.Ordinal);
            Assert.True(channel.GetStatistics().Faults > 0, "a ring fault was not counted");
            outcome = "fault: " + e.Message;
        }
        catch (MessageTooLargeException e)
        {
            outcome = "fault: " + e.Message;
        }
        catch (InvalidDataException e)
        {
            outcome = "fault: " + e.Message;
        }
        catch (PeerDeadException e)
        {
            outcome = "dead: " + e.Message;
        }
        return Finish(outcome);

        string Finish(string result)
        {
            var line = hostile.ReadLine(s_perSeed);
            Assert.StartsWith(done, line, StringComparison.Ordinal);
            hostile.WriteLine("next");
            return result + " [" + line[done.Length..] + "]";
        }
    }

    private const int HostileMaxSize = 8 * 1024; // the hostile child's largest message (ReliabilityScenarios.HostileMaxSize)

    [Fact]
    public void Interrupt_flood_from_a_hostile_peer_leaves_the_victim_correct_and_its_cpu_bounded()
    {
        using var host = PartitionHost.Start();
        const double seconds = 5;
        var (flooder, channels) = host.StartChild("rel-flood", Ring, 1, null, seconds.ToString(CultureInfo.InvariantCulture), "2000");
        var channel = channels[0];
        try
        {
            TimeSpan cpu = default, wall = default;
            long messages = 0;
            Exception? failure = null;
            var receiver = new Thread(() =>
            {
                try
                {
                    var cpuBefore = ProcSelf.ThreadCpuTime();
                    var start = Stopwatch.GetTimestamp();
                    messages = SoakRunner.Receive(channel, 7, 4096, TimeSpan.FromSeconds(30)).Messages;
                    wall = Stopwatch.GetElapsedTime(start);
                    cpu = ProcSelf.ThreadCpuTime() - cpuBefore;
                }
                catch (Exception e)
                {
                    failure = e;
                }
            }) { IsBackground = true };
            receiver.Start();
            Assert.True(receiver.Join(TimeSpan.FromSeconds(seconds + 30)), "the victim did not finish receiving");
            Assert.Null(failure);
            var line = flooder.ReadLine(TimeSpan.FromSeconds(10));
            var parts = line.Split(' ');
            Assert.Equal("flooded", parts[0]);
            var wakes = long.Parse(parts[1], CultureInfo.InvariantCulture);
            Assert.Equal(long.Parse(parts[2], CultureInfo.InvariantCulture), messages);
            var share = cpu / wall;
            var waiter = channel.GetStatistics().Wait;
            output.WriteLine($"{wakes:N0} spurious wakes in {wall.TotalSeconds:0.0} s, {messages} real messages all checked; victim thread CPU {cpu.TotalSeconds:0.00} s = {share:P0} of a CPU; parks {waiter.Parks:N0}, spin hits {waiter.SpinHits:N0}, 1 ms back-offs {waiter.SpuriousBackoffs:N0}");
            Assert.True(wakes > 10_000, $"the flood was too weak to mean anything ({wakes} wakes)");
            // Each spurious wake costs the victim a futex return, a look at its ring and a re-park (a few µs); the
            // flooder pays a futex_wake syscall per wake on the other CPU, so the victim is asleep most of the time.
            // A victim that spun or busy-looped on the flood would be near 100 %; 60 % leaves room for a loaded box.
            Assert.True(share < 0.6, $"the victim's receiving thread used {share:P0} of a CPU under the flood");
        }
        finally
        {
            flooder.Dispose();
            channel.Dispose();
        }
    }

    [Fact]
    public void A_peer_cannot_resize_its_granted_window_the_seals_refuse_ftruncate_with_EPERM()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("rel-resize", Ring, 1, null);
        using (child)
        using (var channel = channels[0])
        {
            Assert.Equal("shrink EPERM grow EPERM", child.ReadLine(TimeSpan.FromSeconds(10)));
            child.AssertExit(0);
            // The window is intact for us: a message still goes through both ways is not needed; its size is unchanged.
            Assert.Equal(channel.Endpoint.Window.Size, channel.Endpoint.Window.File.GetStatus().Size);
        }
    }

    [Fact]
    public void Interrupt_group_pages_are_sealed_against_resizing_and_an_unsealed_one_is_refused()
    {
        // A group page is the memfd the hypervisor hands to both partitions of a pair with their grants (seals bind every holder,
        // the creator included, so this process stands for any peer that received the descriptor).
        using var group = InterruptGroup.Create();
        var size = group.File.GetStatus().Size;
        foreach (var newSize in new[] { size / 2, size * 2, 0 })
        {
            var refused = Assert.Throws<IIC.Native.NativeException>(() => IIC.Native.MemoryFile.SetSize(group.File, newSize));
            Assert.Equal("EPERM", refused.ErrnoName);
        }
        using var unsealed = IIC.Native.MemoryFile.Create("iic-unsealed-group");
        IIC.Native.MemoryFile.SetSize(unsealed, size);
        var e = Assert.Throws<InvalidDataException>(() => InterruptGroup.Open(unsealed).Dispose());
        output.WriteLine(e.Message);
        Assert.Contains("seal", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    private static Exception? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    /// <summary>Collects the "refused a granted window" protocol faults this process's partitions trace.</summary>
    private sealed class GrantFaultListener(System.Collections.Concurrent.ConcurrentQueue<string> faults) : System.Diagnostics.Tracing.EventListener
    {
        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource eventSource)
        {
            if (eventSource.Name == "IIC-Transport")
            {
                EnableEvents(eventSource, System.Diagnostics.Tracing.EventLevel.Error);
            }
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs eventData)
        {
            if (eventData.EventId == 8 && eventData.Payload?[2] is string reason && (reason.StartsWith("refused a granted window", StringComparison.Ordinal) || reason.StartsWith("refused an accepted connection", StringComparison.Ordinal)))
            {
                faults.Enqueue(reason);
            }
        }
    }
}
