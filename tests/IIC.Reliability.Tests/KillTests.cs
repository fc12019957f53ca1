using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;
using IIC.Transport;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// kill -9 in a loop (IIC_KILL_ROUNDS, default 12) at random moments: of a child that sends and receives at once
/// (the kill lands while it sends to us, or while it receives from us), and of a hypervisor running in a child.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class KillTests(ITestOutputHelper output)
{
    private const int MaxSize = 256 * 1024;
    private const int Ring = 64 * 1024;
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(20);

    [Fact]
    public void Kill9_of_senders_receivers_and_the_hypervisor_at_random_moments_loses_nothing_published_hangs_nothing_and_leaks_nothing()
    {
        var rounds = Knobs.Get("IIC_KILL_ROUNDS", 12);
        var random = new Random(rounds);
        // Warm up (runtime threads, pipes, the test host's own first descriptors), then take the baseline.
        RunPeerKill(random, killWhileChildSends: true, 0);
        int fdBaseline = ProcSelf.Descriptors(), memfdBaseline = ProcSelf.IicMemfdDescriptors(), mapBaseline = ProcSelf.IicMappings();
        var start = Stopwatch.GetTimestamp();
        for (var round = 1; round <= rounds; round++)
        {
            var kind = round % 3;
            var summary = kind == 2 ? RunHypervisorKill(random, round) : RunPeerKill(random, killWhileChildSends: kind == 0, round);
            output.WriteLine($"round {round}: {summary}");
        }
        WaitFor.Condition(() => ProcSelf.IicMemfdDescriptors() == memfdBaseline && ProcSelf.IicMappings() == mapBaseline,
            "every IICFast memfd descriptor and mapping of the killed rounds to be released",
            diagnostics: () => $"memfd descriptors {ProcSelf.IicMemfdDescriptors()} (baseline {memfdBaseline}), memfd mappings {ProcSelf.IicMappings()} (baseline {mapBaseline})");
        // Other descriptors: the runtime may keep a few more (thread pool, timers); a leak per round would be >= rounds.
        var fds = ProcSelf.Descriptors();
        output.WriteLine($"{rounds} rounds in {Stopwatch.GetElapsedTime(start).TotalSeconds:0.0} s; descriptors {fdBaseline} -> {fds}; iic memfds {memfdBaseline} -> {ProcSelf.IicMemfdDescriptors()}; iic mappings {mapBaseline} -> {ProcSelf.IicMappings()}");
        Assert.True(fds <= fdBaseline + 6, $"descriptors grew from {fdBaseline} to {fds} over {rounds} kill rounds");
    }

    /// <summary>A child sends stream 1 to us and receives stream 2 from us; it is killed after a random number of messages.</summary>
    private static string RunPeerKill(Random random, bool killWhileChildSends, int round)
    {
        using var host = ReliabilityHost.Start();
        var (child, channels) = host.StartChild("rel-duplex", Ring, 1, new ChannelOptions { WaitStrategy = random.Next(2) == 0 ? WaitStrategy.Adaptive : WaitStrategy.Park },
            "1", random.Next(2) == 0 ? "adaptive" : "park", "0", MaxSize.ToString(CultureInfo.InvariantCulture), "3600", long.MaxValue.ToString(CultureInfo.InvariantCulture), "0");
        using (child)
        using (var channel = channels[0])
        {
            long received = 0, sent = 0;
            Exception? receiveEnd = null, sendEnd = null;
            var receiver = StartThread(() => receiveEnd = Catch(() => SoakRunner.Receive(channel, 0, MaxSize, s_bound, n => Volatile.Write(ref received, n))));
            var sender = StartThread(() => sendEnd = Catch(() => SoakRunner.Send(channel, 1, MaxSize, long.MaxValue, long.MaxValue, n => Volatile.Write(ref sent, n))));
            // The leak measure sees what a live channel holds (so its return to the baseline means something).
            Assert.True(ProcSelf.IicMemfdDescriptors() > 0 && ProcSelf.IicMappings() > 0, "a live channel's window is not visible in /proc/self/fd and /proc/self/maps");
            var target = random.Next(1, 400);
            WaitFor.Condition(() => (killWhileChildSends ? Volatile.Read(ref received) : Volatile.Read(ref sent)) >= target,
                $"{target} messages {(killWhileChildSends ? "from" : "to")} the child before the kill", s_bound, child.ToString);
            var killedAt = Stopwatch.GetTimestamp();
            child.Process.Kill(); // SIGKILL
            Assert.True(receiver.Join(s_bound), "the receive did not end after the peer's kill -9 (hang)");
            Assert.True(sender.Join(s_bound), "the send did not end after the peer's kill -9 (hang)");
            var ended = Stopwatch.GetElapsedTime(killedAt);
            // Every message before the death arrived whole and in order (SoakRunner checked each), then PeerDead.
            Assert.True(receiveEnd is PeerDeadException, $"round {round}: the receive ended with {receiveEnd?.ToString() ?? "no exception"}, expected PeerDeadException after {received} messages");
            Assert.True(sendEnd is PeerDeadException, $"round {round}: the send ended with {sendEnd?.ToString() ?? "no exception"}, expected PeerDeadException after {sent} messages");
            Assert.Contains("died", receiveEnd!.Message, StringComparison.Ordinal);
            return string.Create(CultureInfo.InvariantCulture, $"child killed while {(killWhileChildSends ? "sending" : "receiving")}: {received} messages received whole, {sent} sent, both ends PeerDead {ended.TotalMilliseconds:0} ms after the kill");
        }
    }

    /// <summary>The hypervisor (a child) is killed mid-stream: the channel completes both streams; a new connect fails clearly.</summary>
    private static string RunHypervisorKill(Random random, int round)
    {
        using var host = ReliabilityHost.Start(inChild: true);
        const long count = 1500;
        var (child, channels) = host.StartChild("rel-duplex", Ring, 1, null,
            "1", "adaptive", "0", MaxSize.ToString(CultureInfo.InvariantCulture), "3600", count.ToString(CultureInfo.InvariantCulture), "0");
        var channel = channels[0];
        Thread? receiver = null, sender = null;
        try
        {
            long received = 0;
            Exception? receiveEnd = null, sendEnd = null;
            receiver = StartThread(() => receiveEnd = Catch(() => SoakRunner.Receive(channel, 0, MaxSize, s_bound, n => Volatile.Write(ref received, n))));
            sender = StartThread(() => sendEnd = Catch(() => SoakRunner.Send(channel, 1, MaxSize, long.MaxValue, count)));
            var target = random.Next(1, (int)count / 2);
            WaitFor.Condition(() => Volatile.Read(ref received) >= target, $"{target} messages before the hypervisor's kill", s_bound, child.ToString);
            host.HypervisorChild!.Process.Kill();
            Assert.True(host.HypervisorChild.Process.WaitForExit(s_bound));
            Assert.True(receiver.Join(s_bound + s_bound), "the stream did not complete after the hypervisor's kill -9");
            Assert.True(sender.Join(s_bound + s_bound), "the send did not complete after the hypervisor's kill -9");
            Assert.Null(receiveEnd);
            Assert.Null(sendEnd);
            Assert.Equal(count, received);
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"ok {count}"), string.Join(' ', child.ReadLine(s_bound).Split(' ').Take(2)));
            child.AssertExit(0, s_bound);
            WaitFor.Condition(() => !host.Partition.IsHypervisorConnected, "the partition to notice its hypervisor is gone", s_bound);
            var refused = Assert.ThrowsAny<Exception>(() => IicChannel.Connect(host.Partition, "anything", null, TimeSpan.FromSeconds(2)).Dispose());
            Assert.IsType<HypervisorException>(refused);
            return $"hypervisor killed after {target}+ messages: both streams of {count} completed; a new connect fails: {refused.Message}";
        }
        finally
        {
            child.Dispose(); // first: threads still in Send or Receive end with PeerDead before the channel is disposed
            receiver?.Join(s_bound);
            sender?.Join(s_bound);
            channel.Dispose();
        }
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

    private static Thread StartThread(Action body)
    {
        var thread = new Thread(() => body()) { IsBackground = true };
        thread.Start();
        return thread;
    }
}
