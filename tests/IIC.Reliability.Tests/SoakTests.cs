using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// Soak: three child partitions and this process, twelve channels with mixed wait strategies, messages of 0 B to
/// 1 MiB both ways on every channel for IIC_SOAK_SECONDS (default 45), every message checked by stream,
/// sequence, length and every byte; then each stream's end message carries the sender's count.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class SoakTests(ITestOutputHelper output)
{
    private const int Children = 3;
    private const int ChannelsPerChild = 4;
    private const int MaxSize = 1 << 20;

    // Busy-spinning receivers would starve everyone on 2 cores (12 channels, 24 receiving threads): the mix is
    // parking and short-spinning strategies, with one spin channel per child that parks after its budget anyway.
    private static readonly string[] s_strategies = ["adaptive", "park", "spinpark:20", "adaptive"];

    [Fact]
    public void Many_channels_in_four_processes_with_random_sizes_and_strategies_lose_duplicate_reorder_and_corrupt_nothing()
    {
        var seconds = Knobs.Get("IIC_SOAK_SECONDS", 45);
        using var host = ReliabilityHost.Start();
        var children = new List<(ChildProcess Child, List<IicChannel> Channels, long StreamBase)>();
        var threads = new List<Thread>();
        try
        {
            for (var c = 0; c < Children; c++)
            {
                var streamBase = 1000L * (c + 1);
                var random = new Random(c);
                var strategies = string.Join(',', s_strategies.OrderBy(_ => random.Next()));
                // Rings of 64 KiB to 1 MiB: small rings fragment most messages, large ones few.
                var ring = 1 << (16 + (2 * c));
                var (child, channels) = host.StartChild("rel-duplex", ring, ChannelsPerChild, new ChannelOptions { WaitStrategy = WaitStrategy.Parse(strategies.Split(',')[0]) },
                    ChannelsPerChild.ToString(CultureInfo.InvariantCulture), strategies, streamBase.ToString(CultureInfo.InvariantCulture),
                    MaxSize.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture), long.MaxValue.ToString(CultureInfo.InvariantCulture), "0");
                children.Add((child, channels, streamBase));
            }
            var deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            long messages = 0, bytes = 0, sent = 0;
            var failures = new List<string>();
            var started = Stopwatch.GetTimestamp();
            foreach (var (child, channels, streamBase) in children)
            {
                for (var i = 0; i < channels.Count; i++)
                {
                    var channel = channels[i];
                    var childSends = streamBase + (2 * i);
                    threads.Add(Run(() => Interlocked.Add(ref sent, SoakRunner.Send(channel, childSends + 1, MaxSize, deadline, long.MaxValue))));
                    threads.Add(Run(() =>
                    {
                        var (m, b) = SoakRunner.Receive(channel, childSends, MaxSize, TimeSpan.FromSeconds(60));
                        Interlocked.Add(ref messages, m);
                        Interlocked.Add(ref bytes, b);
                    }));
                }
            }
            foreach (var thread in threads)
            {
                Assert.True(thread.Join(TimeSpan.FromSeconds(seconds + 120)), "a soak thread did not finish");
            }
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures) + Environment.NewLine + string.Join(Environment.NewLine, children.Select(c => c.Child.ToString())));
            long childMessages = 0, childBytes = 0;
            foreach (var (child, channels, _) in children)
            {
                var line = child.ReadLine(TimeSpan.FromSeconds(60));
                Assert.StartsWith("ok ", line, StringComparison.Ordinal);
                var parts = line.Split(' ');
                childMessages += long.Parse(parts[1], CultureInfo.InvariantCulture);
                childBytes += long.Parse(parts[2], CultureInfo.InvariantCulture);
                child.AssertExit(0, TimeSpan.FromSeconds(30));
                foreach (var channel in channels)
                {
                    Assert.Equal(0, channel.GetStatistics().Faults);
                }
            }
            Assert.Equal(sent, childMessages);
            var total = messages + childMessages;
            var totalBytes = bytes + childBytes;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"soak: {Children} children x {ChannelsPerChild} channels, both ways, {elapsed.TotalSeconds:0.0} s: {total:N0} messages ({messages:N0} in, {childMessages:N0} out), {totalBytes / 1048576.0:N0} MiB, {total / elapsed.TotalSeconds:N0} msg/s, {totalBytes / 1048576.0 / elapsed.TotalSeconds:N1} MiB/s; every message checked"));
            Assert.True(messages > 0 && childMessages > 0, "nothing travelled");

            Thread Run(Action body)
            {
                var thread = new Thread(() =>
                {
                    try
                    {
                        body();
                    }
                    catch (Exception e)
                    {
                        lock (failures)
                        {
                            failures.Add(e.ToString());
                        }
                    }
                }) { IsBackground = true };
                thread.Start();
                return thread;
            }
        }
        finally
        {
            // Children first: a soak thread still in Send or Receive ends with PeerDead, never on an unmapped window.
            foreach (var (child, _, _) in children)
            {
                child.Dispose();
            }
            foreach (var thread in threads)
            {
                thread.Join(TimeSpan.FromSeconds(20));
            }
            foreach (var (_, channels, _) in children)
            {
                foreach (var channel in channels)
                {
                    channel.Dispose();
                }
            }
        }
    }
}
