using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using IIC.Tests;
using IIC.TestHost;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 12 point 6: group pages a peer cannot abuse. The victim (this process) receives grouped channels from an
/// honest child and a hostile child; each peer partition gets its own group page (docs/architecture.md, "Group pages
/// per peer"), so the hostile one can scribble only the page it shares with the victim, and its window.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class GroupIsolationTests(ITestOutputHelper output)
{
    private const int Messages = 3000;
    private const double IntervalMicroseconds = 300;

    /// <summary>
    /// Generous bounds for a loaded 2-core box shared with a child that scribbles at full speed (the unattacked baseline
    /// has shown a 200 ms p99.9 at load average 17); the target (2 ms p99.9 added, docs/guarantees.md) is a measurement,
    /// printed here, not a timed assertion. The median catches what matters: a peer that could make the victim miss
    /// its wake-ups would deliver on park timeouts (100 ms) and move the median far past this.
    /// </summary>
    private static readonly TimeSpan s_medianBound = TimeSpan.FromMilliseconds(20);

    private static readonly TimeSpan s_tailBound = TimeSpan.FromSeconds(1);

    [Theory]
    [InlineData("none")] // the baseline: the same peers, the second one idle (the delays on this box without an attack)
    [InlineData("page")] // the page alone: its channel lives on, so the page is what must be contained (demoted)
    [InlineData("all")] // the page and the window: its channel faults and ends, the victim lets go of the page
    // Compiled optimized before it runs: at tier 0 this long method's receive loop was on-stack-replaced mid-measurement,
    // and the JIT compiled that OSR version on this very thread, 40-55 ms on the CPU (about 1300 page faults), once in about
    // half the "page" and "all" runs (their loop counts crossed the threshold), which the honest stream then measured as a
    // ~50 ms delivery stall: the test's own JIT, not the peer (it vanished with DOTNET_TC_OnStackReplacement=0).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void A_hostile_peer_scribbling_its_page_and_window_neither_loses_nor_stalls_an_honest_stream(string scribble)
    {
        using var host = PartitionHost.Start();
        var options = new ChannelOptions { Grouped = true, RingCapacity = 1 << 16 };
        var honestService = PartitionHost.NewService();
        var hostileService = PartitionHost.NewService();
        using var honestListener = IicListener.Listen(host.Partition, honestService, options);
        using var hostileListener = IicListener.Listen(host.Partition, hostileService, options);
        using var honest = ChildProcess.Start("gi-honest", host.Name, host.SocketDirectory, honestService,
            Messages.ToString(CultureInfo.InvariantCulture), IntervalMicroseconds.ToString(CultureInfo.InvariantCulture));
        using var hostile = ChildProcess.Start("gi-hostile", host.Name, host.SocketDirectory, hostileService);
        using var honestChannel = honestListener.Accept(PartitionHost.Timeout);
        var hostileChannel = hostileListener.Accept(PartitionHost.Timeout);
        Assert.Equal("connected", honest.ReadLine(PartitionHost.Timeout));
        Assert.Equal("connected", hostile.ReadLine(PartitionHost.Timeout));
        var group = new IicChannelGroup(host.Partition);
        group.Add(honestChannel);
        group.Add(hostileChannel);
        Assert.Equal(2, group.Receiver.Pages.Armed.Length); // one page per peer partition

        if (scribble != "none")
        {
            hostile.WriteLine("scribble " + scribble);
            Assert.Equal("scribbling", hostile.ReadLine(PartitionHost.Timeout));
        }
        honest.WriteLine("go");
        var delays = new List<double>(Messages);
        var buffer = new byte[1 << 16];
        var expected = 0;
        var hostileFaults = new List<string>();
        var hostileMessages = 0;
        var hostileMember = true;
        var faultHandling = TimeSpan.Zero; // the victim's own cost of ending the faulted channel (a first exception, under load)
        while (expected < Messages)
        {
            var ready = group.WaitAny(PartitionHost.Timeout)
                ?? throw new TimeoutException($"No channel became ready in {PartitionHost.Timeout.TotalSeconds} s with {expected} of {Messages} honest messages received.");
            if (ready == honestChannel)
            {
                while (honestChannel.TryReceive(buffer, out var length))
                {
                    var now = Stopwatch.GetTimestamp();
                    Assert.True(StampedMessage.Check(buffer.AsSpan(0, length), out var sequence, out var sentAt), $"honest message {expected} is damaged");
                    Assert.Equal(expected, sequence);
                    delays.Add((now - sentAt) * 1000.0 / Stopwatch.Frequency);
                    expected++;
                }
                continue;
            }
            Assert.Same(hostileChannel, ready);
            var handling = Stopwatch.GetTimestamp();
            try
            {
                for (var i = 0; i < 1024 && hostileChannel.TryReceive(buffer, out _); i++)
                {
                    hostileMessages++; // whatever it wrote; nothing of it is trusted
                }
            }
            catch (Exception e) when (hostileMember)
            {
                // Its window is garbage: that channel ends, the victim lets go of it (and of the peer's page) and goes on.
                hostileFaults.Add(e.GetType().Name);
                group.Remove(hostileChannel);
                hostileChannel.Dispose();
                hostileMember = false;
                faultHandling = Stopwatch.GetElapsedTime(handling);
            }
        }
        hostile.WriteLine("stop");
        var rounds = hostile.ReadLine(PartitionHost.Timeout);
        honest.ReadLine(PartitionHost.Timeout); // "sent"

        delays.Sort();
        double At(double q) => delays[Math.Min(delays.Count - 1, (int)(q * delays.Count))];
        var stats = group.GetStatistics();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"honest delivery delay while a peer scribbles its {scribble} ({Messages} messages {IntervalMicroseconds} µs apart): p50 {At(0.5):0.000} ms, p99 {At(0.99):0.000} ms, p99.9 {At(0.999):0.000} ms, max {delays[^1]:0.000} ms"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"hostile: {rounds}, {hostileMessages} records read from it, faults [{string.Join(", ", hostileFaults)}] (handled in {faultHandling.TotalMilliseconds:0.0} ms), pages demoted {group.Receiver.Pages.Demotions}; waiter: {stats.Parks} parks, {stats.SpuriousBackoffs} flood back-offs"));
        Assert.Equal(Messages, expected); // every honest message, in order, intact
        Assert.True(scribble switch { "page" => group.Receiver.Pages.Demotions == 1, "all" => hostileFaults.Count > 0, _ => group.Receiver.Pages.Demotions == 0 && hostileFaults.Count == 0 },
            "the scribbling peer was neither demoted (page) nor faulted (window): the test did not exercise what it claims");
        Assert.True(At(0.5) < s_medianBound.TotalMilliseconds, $"honest median delay {At(0.5):0.0} ms exceeds {s_medianBound.TotalMilliseconds} ms");
        Assert.True(At(0.999) < s_tailBound.TotalMilliseconds, $"honest p99.9 delay {At(0.999):0.0} ms exceeds {s_tailBound.TotalMilliseconds} ms");
        if (hostileMember)
        {
            group.Remove(hostileChannel);
            hostileChannel.Dispose();
        }
    }

    [Fact]
    public void After_release_a_peers_writes_to_its_old_page_reach_nothing()
    {
        using var host = PartitionHost.Start();
        var options = new ChannelOptions { Grouped = true, RingCapacity = 1 << 16 };
        var honestService = PartitionHost.NewService();
        var hostileService = PartitionHost.NewService();
        using var honestListener = IicListener.Listen(host.Partition, honestService, options);
        using var hostileListener = IicListener.Listen(host.Partition, hostileService, options);
        using var honest = ChildProcess.Start("gi-honest", host.Name, host.SocketDirectory, honestService, "200", "1000");
        using var hostile = ChildProcess.Start("gi-hostile", host.Name, host.SocketDirectory, hostileService);
        using var honestChannel = honestListener.Accept(PartitionHost.Timeout);
        var hostileChannel = hostileListener.Accept(PartitionHost.Timeout);
        Assert.Equal("connected", honest.ReadLine(PartitionHost.Timeout));
        Assert.Equal("connected", hostile.ReadLine(PartitionHost.Timeout));
        var group = new IicChannelGroup(host.Partition);
        group.Add(honestChannel);
        group.Add(hostileChannel);
        Assert.Equal(2, group.Receiver.Pages.Armed.Length);

        // The victim is done with the hostile peer: the last channel with it ends, so its page leaves the wait set
        // (and this partition's books); the peer keeps its own mapping and scribbles on.
        group.Remove(hostileChannel);
        hostileChannel.Dispose();
        Assert.Equal(1, group.Receiver.Pages.Armed.Length);
        Assert.Empty(group.Receiver.Pages.Demoted);
        hostile.WriteLine("scribble page");
        Assert.Equal("scribbling", hostile.ReadLine(PartitionHost.Timeout));

        var before = group.GetStatistics();
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(group.WaitAny(TimeSpan.FromMilliseconds(200))); // nothing reaches the idle victim
        }
        var waited = Stopwatch.GetElapsedTime(start);
        hostile.WriteLine("stop");
        var rounds = hostile.ReadLine(PartitionHost.Timeout);
        var after = group.GetStatistics();
        output.WriteLine($"hostile {rounds} on its released page while the victim waited {waited.TotalMilliseconds:0} ms: parks {after.Parks - before.Parks}, of which timed out {after.ParkTimeouts - before.ParkTimeouts}, flood back-offs {after.SpuriousBackoffs - before.SpuriousBackoffs}");
        Assert.True(long.Parse(rounds.Split(' ')[1], CultureInfo.InvariantCulture) > 0, "the hostile peer did not scribble");
        Assert.Equal(0, after.SpuriousBackoffs - before.SpuriousBackoffs);
        Assert.Equal(after.Parks - before.Parks, after.ParkTimeouts - before.ParkTimeouts); // every park ended by its timeout: no wake came from the old page
        Assert.Equal(0, group.Receiver.Pages.Demotions);

        // The honest peer is still served.
        honest.WriteLine("go");
        var buffer = new byte[StampedMessage.Size];
        for (var expected = 0; expected < 200;)
        {
            Assert.Same(honestChannel, group.WaitAny(PartitionHost.Timeout));
            while (honestChannel.TryReceive(buffer, out var length))
            {
                Assert.True(StampedMessage.Check(buffer.AsSpan(0, length), out var sequence, out _));
                Assert.Equal(expected++, sequence);
            }
        }
    }

    [Fact]
    public void A_129th_peer_partition_is_refused_a_grouped_connection_with_a_clear_error_and_the_first_128_are_served()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = host.Partition.Listen(service, grouped: true);
        var senders = new List<IIC.Hardware.Partition>();
        var connections = new List<IIC.Hardware.GrantedConnection>();
        try
        {
            for (var i = 0; i < 128; i++)
            {
                var sender = IIC.Hardware.Partition.Attach(host.Name, "peer-" + i.ToString(CultureInfo.InvariantCulture), host.SocketDirectory);
                senders.Add(sender);
                connections.Add(sender.Connect(service, IIC.Hardware.DescriptorRing.MinCapacity, PartitionHost.Timeout));
                connections.Add(listener.Accept(PartitionHost.Timeout));
            }
            // A second grouped connection from a peer that already has a page is fine: it shares that page.
            connections.Add(senders[0].Connect(service, IIC.Hardware.DescriptorRing.MinCapacity, PartitionHost.Timeout));
            connections.Add(listener.Accept(PartitionHost.Timeout));
            var late = IIC.Hardware.Partition.Attach(host.Name, "peer-128", host.SocketDirectory);
            senders.Add(late);
            var refused = Assert.Throws<IIC.Hardware.HypervisorException>(() => late.Connect(service, IIC.Hardware.DescriptorRing.MinCapacity, PartitionHost.Timeout));
            output.WriteLine(refused.Message);
            Assert.Equal(IIC.Hardware.ControlError.LimitExceeded, refused.Error);
            Assert.Contains("128 peer partitions", refused.Message, StringComparison.Ordinal);
            // Once one peer's connections are all released its page goes, and the late peer is served.
            connections[0].Dispose();
            connections[1].Dispose();
            connections[256].Dispose();
            connections[257].Dispose();
            WaitFor.Condition(() =>
            {
                try
                {
                    connections.Add(late.Connect(service, IIC.Hardware.DescriptorRing.MinCapacity, PartitionHost.Timeout));
                    return true;
                }
                catch (IIC.Hardware.HypervisorException e) when (e.Error == IIC.Hardware.ControlError.LimitExceeded)
                {
                    return false; // the releases are still on their way to the hypervisor
                }
            }, "the late peer to be granted once a page was freed");
            connections.Add(listener.Accept(PartitionHost.Timeout));
        }
        finally
        {
            foreach (var connection in connections)
            {
                connection.Dispose();
            }
            foreach (var sender in senders)
            {
                sender.Dispose();
            }
        }
    }
}
