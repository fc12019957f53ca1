using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.TestHost;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 13, points 2 to 4: every timeout and token is honoured for every message size (a fragmented send that runs
/// out of time is abandoned, never delivered in part), Connect's timeout bounds the whole call, infinite and
/// TimeSpan.MaxValue mean no limit while negative timeouts are refused alike, channels outlive their partition, and
/// exceptions name public things.
/// </summary>
public class TimeoutAndLifetimeContractTests
{
    private static readonly TimeSpan s_bound = PartitionHost.Timeout;

    [Fact]
    public async Task Fragmented_sends_with_short_timeouts_against_a_reader_that_stops_deliver_nothing_partial_and_the_next_messages_intact()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("contract-stalled-reader", 64 * 1024);
        using (child)
        using (channel)
        {
            var random = new Random(2);
            var first = "first"u8.ToArray();
            var abandoned = new byte[1 << 20];
            var last = new byte[(4 << 20) + 3];
            random.NextBytes(abandoned);
            random.NextBytes(last);
            channel.Send(first);
            // The child reads nothing: the 1 MiB message fills the ring part-way, runs out of time and is abandoned.
            Assert.False(await OnThread(() => channel.TrySend(abandoned, TimeSpan.FromMilliseconds(200))));
            Assert.Equal(1, channel.Endpoint.AbandonedSends);
            using (var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OnThread(() =>
                {
                    channel.Send(abandoned, cancellation.Token);
                    return true;
                }));
            }
            var rest = OnThread(() =>
            {
                channel.Send("next"u8);
                channel.Send(last);
                return true;
            });
            child.WriteLine("go");
            Assert.Equal(Line(first), child.ReadLine(s_bound));
            Assert.Equal(Line("next"u8), child.ReadLine(s_bound)); // the abandoned fragments were discarded, not delivered
            Assert.Equal(Line(last), child.ReadLine(s_bound));
            Assert.True(await rest);
            channel.Dispose();
            Assert.Equal("closed", child.ReadLine(s_bound));
            child.AssertExit(0);
        }
    }

    [Fact]
    public void Connect_against_a_stopped_hypervisor_fails_within_its_timeout()
    {
        var name = "t-" + Guid.NewGuid().ToString("N")[..12];
        var directory = Directory.CreateTempSubdirectory("iic-hv-").FullName;
        using var hypervisor = ChildProcess.Start("hv-host", name, directory);
        var ready = hypervisor.ReadLine(s_bound);
        Assert.StartsWith("ready ", ready, StringComparison.Ordinal);
        using var partition = Partition.Attach(name, "parent", directory);
        Signal(hypervisor.Id, "STOP");
        try
        {
            WaitFor.Condition(() => ProcessState(hypervisor.Id) == 'T', "the hypervisor to be stopped", s_bound);
            var started = Stopwatch.GetTimestamp();
            var e = Assert.Throws<HypervisorException>(() => IicChannel.Connect(partition, "nobody", timeout: TimeSpan.FromSeconds(1)));
            var elapsed = Stopwatch.GetElapsedTime(started);
            Assert.Contains("did not answer", e.Message, StringComparison.Ordinal);
            // The contract: the call ends at its deadline plus one wake-up, not 10 s later. Generous for a loaded box.
            Assert.True(elapsed < TimeSpan.FromSeconds(6), $"Connect(timeout: 1 s) took {elapsed.TotalSeconds:0.0} s against a stopped hypervisor");
        }
        finally
        {
            Signal(hypervisor.Id, "CONT");
        }
        hypervisor.WriteLine("stop");
        hypervisor.AssertExit(0);
    }

    [Fact]
    public async Task TimeSpan_MaxValue_and_Infinite_mean_no_limit_and_negative_timeouts_are_refused_alike()
    {
        var (a, b) = IicChannel.CreatePair();
        using (a)
        using (b)
        {
            var buffer = new byte[16];
            Assert.True(a.TrySend("max"u8, TimeSpan.MaxValue));
            Assert.True(b.TryReceive(buffer, out var length, TimeSpan.MaxValue));
            Assert.Equal(3, length);
            Assert.True(a.TrySend("inf"u8, Timeout.InfiniteTimeSpan));
            Assert.True(b.TryReceive(buffer, out length, Timeout.InfiniteTimeSpan));
            Assert.True(a.TrySend("big"u8, TimeSpan.FromDays(10_000)));
            Assert.True(b.TryReceive(buffer, out _, TimeSpan.FromDays(10_000)));

            var negative = TimeSpan.FromSeconds(-5);
            AssertRefused(() => a.TrySend("x"u8, negative));
            AssertRefused(() => b.TryReceive(buffer, out _, negative));
            AssertRefused(() => a.TrySend("x"u8, TimeSpan.FromTicks(-1)));
        }

        using var host = PartitionHost.Start();
        using var listener = IicListener.Listen(host.Partition, "svc-max");
        var connecting = OnThread(() => IicChannel.Connect(host.Partition, "svc-max", timeout: TimeSpan.MaxValue));
        using (var accepted = await OnThread(() => listener.Accept(TimeSpan.MaxValue)))
        using (var connected = await connecting)
        {
            connected.Send("hello"u8);
            Assert.Equal(5, accepted.Receive(new byte[16]));
        }
        AssertRefused(() => listener.Accept(TimeSpan.FromSeconds(-5)));
        AssertRefused(() => IicChannel.Connect(host.Partition, "svc-max", timeout: TimeSpan.FromSeconds(-5)));
    }

    [Fact]
    public async Task Channels_outlive_their_partition_across_processes_and_the_peer_sees_a_close_not_a_death()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("contract-echo", 64 * 1024);
        using (child)
        using (channel)
        {
            host.Partition.Dispose(); // detaches: new requests are refused, this channel goes on
            Assert.Throws<ObjectDisposedException>(() => IicChannel.Connect(host.Partition, "anything", timeout: TimeSpan.Zero));
            var message = new byte[300_000]; // fragmented both ways
            new Random(3).NextBytes(message);
            var echo = new byte[message.Length];
            for (var round = 0; round < 3; round++)
            {
                await OnThread(() =>
                {
                    var sender = new Thread(() => channel.Send(message)) { IsBackground = true };
                    sender.Start();
                    var length = channel.Receive(echo);
                    Assert.True(sender.Join(s_bound));
                    Assert.Equal(message.Length, length);
                    Assert.True(message.AsSpan().SequenceEqual(echo), "the echo after the partition's disposal differs");
                    return true;
                });
            }
            channel.Dispose();
            Assert.Equal("closed", child.ReadLine(s_bound)); // "dead" (exit 3) would mean the disposal ended the channel
            child.AssertExit(0);
        }
    }

    [Fact]
    public void A_send_to_a_closed_peer_throws_and_exceptions_name_public_types_and_parameters()
    {
        var (a, b) = IicChannel.CreatePair();
        b.Dispose();
        Assert.Throws<IicChannelClosedException>(() => a.Send("into the void?"u8));
        Assert.Throws<IicChannelClosedException>(() => a.TrySend("x"u8, TimeSpan.FromSeconds(1)));
        a.Dispose();
        var disposed = Assert.Throws<ObjectDisposedException>(() => a.Send("x"u8));
        Assert.Equal(nameof(IicChannel), disposed.ObjectName);
        Assert.DoesNotContain("WindowEndpoint", disposed.Message, StringComparison.Ordinal);

        foreach (var bad in new[] { ".", "..", "a/b", "" })
        {
            var e = Assert.Throws<ArgumentException>(() => Partition.Attach(bad, "p"));
            Assert.Equal("hypervisorName", e.ParamName);
            Assert.Contains("'.', '_' or '-' (no '/'), other than \".\" and \"..\"", e.Message, StringComparison.Ordinal);
        }
    }

    private static void AssertRefused(Action call)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(call);
        Assert.Equal("timeout", e.ParamName);
        Assert.Contains("TimeSpan.Zero", e.Message, StringComparison.Ordinal);
        Assert.Contains("Timeout.InfiniteTimeSpan", e.Message, StringComparison.Ordinal);
    }

    private static string Line(ReadOnlySpan<byte> message)
        => string.Create(CultureInfo.InvariantCulture, $"{message.Length} {SequencedTraffic.Checksum(message)}");

    private static Task<T> OnThread<T>(Func<T> body)
        => Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(s_bound * 2);

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        Assert.True(kill.WaitForExit(s_bound), "kill did not finish");
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The state letter in /proc/PID/stat (after the parenthesised command name).</summary>
    private static char ProcessState(int pid)
    {
        var stat = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"));
        return stat[stat.LastIndexOf(')') + 2];
    }
}
