using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>Peers that are alive but do not read: one that stops reading, one stopped with SIGSTOP mid-stream.</summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class StuckPeerTests(ITestOutputHelper output)
{
    private const int Ring = 64 * 1024;
    private const int MaxSize = 4096;
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(20);

    [Fact]
    public void A_peer_that_stops_reading_bounds_back_pressure_by_the_timeout_reports_stalls_and_grows_no_memory()
    {
        using var host = ReliabilityHost.Start();
        const long count = 5000;
        // gate=1: the child connects, then reads nothing until "go".
        var (child, channels) = host.StartChild("rel-duplex", Ring, 1, null,
            "1", "park", "0", MaxSize.ToString(CultureInfo.InvariantCulture), "3600", count.ToString(CultureInfo.InvariantCulture), "1");
        var channel = channels[0];
        Thread? receiver = null;
        try
        {
            var buffer = new byte[MaxSize];
            long sequence = 0;
            while (channel.TrySend(buffer.AsSpan(0, SoakPattern.Fill(buffer, 1, sequence, MaxSize)), TimeSpan.FromMilliseconds(50)))
            {
                sequence++;
                Assert.True(sequence < 1_000_000, "the ring never filled: the stuck peer is not stuck");
            }
            var stallsAfterFill = channel.GetStatistics().RingFullStalls;
            Assert.True(stallsAfterFill > 0, "a full ring was not reported as a ring-full stall");
            Assert.True(channel.GetStatistics().OutgoingOccupancy > Ring - MaxSize - 64, $"the ring is not full: {channel.GetStatistics().OutgoingOccupancy} of {Ring}");

            // TrySend with a timeout returns false after about the timeout, sending nothing.
            var length = SoakPattern.Fill(buffer, 1, sequence, MaxSize);
            var started = Stopwatch.GetTimestamp();
            Assert.False(channel.TrySend(buffer.AsSpan(0, length), TimeSpan.FromMilliseconds(200)));
            var waited = Stopwatch.GetElapsedTime(started);
            Assert.InRange(waited, TimeSpan.FromMilliseconds(190), TimeSpan.FromMilliseconds(200) + TimeSpan.FromSeconds(2));

            // Send with a token throws once it is cancelled.
            using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            {
                started = Stopwatch.GetTimestamp();
                Assert.ThrowsAny<OperationCanceledException>(() => channel.Send(buffer.AsSpan(0, length), cancel.Token));
                Assert.InRange(Stopwatch.GetElapsedTime(started), TimeSpan.FromMilliseconds(290), TimeSpan.FromMilliseconds(300) + TimeSpan.FromSeconds(2));
            }

            // Keep trying for a while: neither process grows (nothing is queued outside the ring) and we allocate nothing.
            // (A short warm-up first, so the JIT's first compilations of the retry path are not counted.)
            for (var warm = Stopwatch.GetTimestamp(); Stopwatch.GetElapsedTime(warm) < TimeSpan.FromMilliseconds(300);)
            {
                Assert.False(channel.TrySend(buffer.AsSpan(0, length), TimeSpan.FromMilliseconds(20)));
                Assert.False(channel.TrySend(buffer.AsSpan(0, length)));
            }
            var ourBefore = ProcSelf.ResidentBytes(Environment.ProcessId);
            var childBefore = ProcSelf.ResidentBytes(child.Id);
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var attempts = 0;
            started = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(2))
            {
                Assert.False(channel.TrySend(buffer.AsSpan(0, length), TimeSpan.FromMilliseconds(20)));
                Assert.False(channel.TrySend(buffer.AsSpan(0, length)));
                attempts++;
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            var ourGrowth = ProcSelf.ResidentBytes(Environment.ProcessId) - ourBefore;
            var childGrowth = ProcSelf.ResidentBytes(child.Id) - childBefore;
            output.WriteLine($"filled {sequence} messages; {attempts} timed-out retries in 2 s: {allocated} bytes allocated, our RSS {ourGrowth / 1024:+#;-#;0} KiB, child's RSS {childGrowth / 1024:+#;-#;0} KiB; stalls {channel.GetStatistics().RingFullStalls}");
            Assert.True(channel.GetStatistics().RingFullStalls >= stallsAfterFill + attempts, "each timed-out send is a reported stall");
            // Back pressure holds no memory: a few KiB of slack for the runtime (JIT, timers); a queue would be MiBs.
            Assert.True(allocated < 16 * 1024, $"retrying a send on a full ring allocated {allocated} bytes");
            Assert.True(ourGrowth < 4 << 20, $"our resident set grew {ourGrowth} bytes while the peer was stuck");
            Assert.True(childGrowth < 4 << 20, $"the stuck child's resident set grew {childGrowth} bytes");

            // Unstuck: everything sent arrives, in order and intact, then the rest of both streams.
            child.WriteLine("go");
            receiver = new Thread(() => SoakRunner.Receive(channel, 0, MaxSize, s_bound)) { IsBackground = true };
            receiver.Start();
            for (; sequence < count; sequence++)
            {
                channel.Send(buffer.AsSpan(0, SoakPattern.Fill(buffer, 1, sequence, MaxSize)));
            }
            channel.Send(buffer.AsSpan(0, SoakPattern.FillEnd(buffer, count)));
            Assert.True(receiver.Join(s_bound), "the child's stream did not complete");
            Assert.StartsWith(string.Create(CultureInfo.InvariantCulture, $"ok {count} "), child.ReadLine(s_bound), StringComparison.Ordinal);
            child.AssertExit(0, s_bound);
        }
        finally
        {
            child.Dispose(); // first: a thread still receiving ends with PeerDead before the channel is disposed
            receiver?.Join(s_bound);
            channel.Dispose();
        }
    }

    [Fact]
    public void SIGSTOP_and_SIGCONT_of_a_peer_mid_stream_resume_the_stream_intact_without_a_park_timeout_storm()
    {
        using var host = ReliabilityHost.Start();
        const long count = 20_000;
        var (child, channels) = host.StartChild("rel-duplex", Ring, 1, new ChannelOptions { WaitStrategy = WaitStrategy.Adaptive },
            "1", "adaptive", "0", (64 * 1024).ToString(CultureInfo.InvariantCulture), "3600", count.ToString(CultureInfo.InvariantCulture), "0");
        var channel = channels[0];
        Thread? receiver = null, sender = null;
        try
        {
            long received = 0, sent = 0;
            Exception? receiveEnd = null, sendEnd = null;
            var started = Stopwatch.GetTimestamp();
            receiver = new Thread(() =>
            {
                try
                {
                    SoakRunner.Receive(channel, 0, 64 * 1024, s_bound, n => Volatile.Write(ref received, n));
                }
                catch (Exception e)
                {
                    receiveEnd = e;
                }
            }) { IsBackground = true };
            sender = new Thread(() =>
            {
                try
                {
                    SoakRunner.Send(channel, 1, 64 * 1024, long.MaxValue, count, n => Volatile.Write(ref sent, n));
                }
                catch (Exception e)
                {
                    sendEnd = e;
                }
            }) { IsBackground = true };
            receiver.Start();
            sender.Start();
            var stops = 0;
            foreach (var at in new[] { 2000L, 8000L, 14000L })
            {
                WaitFor.Condition(() => Volatile.Read(ref received) >= at || receiveEnd is not null, $"{at} messages", s_bound, child.ToString);
                if (receiveEnd is not null)
                {
                    break;
                }
                ProcSelf.Signal(child.Id, "STOP");
                WaitFor.Condition(() => ProcSelf.State(child.Id) == 'T', "the child to be stopped", s_bound);
                // While it is stopped our receiver drains the ring and parks (and our sender fills the other ring).
                // Keep the child stopped until our receiver parked a few times, or for at least a second (the
                // property under test is that the stream resumes intact, not how soon the receiver sleeps).
                var parks = channel.GetStatistics().Wait.Parks;
                var stoppedAt = Stopwatch.GetTimestamp();
                WaitFor.Condition(() => channel.GetStatistics().Wait.Parks > parks + 2 || receiveEnd is not null || Stopwatch.GetElapsedTime(stoppedAt) > TimeSpan.FromSeconds(1),
                    "our receiver to park on the stopped child, or a second to pass", s_bound);
                ProcSelf.Signal(child.Id, "CONT");
                stops++;
            }
            Assert.True(receiver.Join(s_bound * 2), "the stream from the child did not complete after SIGCONT");
            Assert.True(sender.Join(s_bound * 2), "the stream to the child did not complete after SIGCONT");
            Assert.Null(receiveEnd);
            Assert.Null(sendEnd);
            Assert.Equal(count, received);
            Assert.StartsWith(string.Create(CultureInfo.InvariantCulture, $"ok {count} "), child.ReadLine(s_bound), StringComparison.Ordinal);
            child.AssertExit(0, s_bound);
            var elapsed = Stopwatch.GetElapsedTime(started);
            var waiter = channel.GetStatistics().Wait;
            // A park times out at most once per park timeout (100 ms) of real waiting; a storm would be thousands.
            var allowed = (long)(elapsed / WaitStrategy.DefaultParkTimeout) + 10;
            output.WriteLine($"{stops} stop/continue cycles; {count} messages each way in {elapsed.TotalSeconds:0.0} s; parks {waiter.Parks}, park timeouts {waiter.ParkTimeouts} (allowed {allowed}), stalls {channel.GetStatistics().RingFullStalls}");
            Assert.Equal(3, stops);
            Assert.True(waiter.ParkTimeouts <= allowed, $"{waiter.ParkTimeouts} park timeouts in {elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            // Never dispose a channel while another thread is inside Send or Receive (see docs/guarantees.md):
            // kill the child first, so both threads end with PeerDead, then dispose.
            child.Dispose();
            receiver?.Join(s_bound);
            sender?.Join(s_bound);
            channel.Dispose();
        }
    }
}
