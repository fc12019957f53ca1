using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;
using Xunit.Abstractions;

namespace IIC.Transport.Tests;

/// <summary>Many sender processes, many channels, one receiving thread waiting through one interrupt page.</summary>
[Collection(nameof(IsolatedTests))]
public sealed class FanInTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _socketDirectory = Directory.CreateTempSubdirectory("iic-fanin-").FullName;

    public void Dispose() => Directory.Delete(_socketDirectory, recursive: true);

    [Theory]
    [InlineData(4, 250, 40)]   // 1,000 rings from 4 sender processes
    [InlineData(32, 4, 200)]   // 32 sender processes into one receiver thread
    public void One_thread_receives_every_message_of_every_sender_process_through_one_interrupt_page(int senders, int channelsPerSender, int perChannel)
    {
        var name = "fanin-" + Guid.NewGuid().ToString("N")[..8];
        // 1,000 connectors in a burst against one listener thread that also adds each channel to its group: grants come
        // faster than the listener maps them, so connectors wait for room in its accept queue (64 by default), never fail.
        using var hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = _socketDirectory });
        using var receiver = Partition.Attach(name, "receiver", _socketDirectory);
        using var listener = IicListener.Listen(receiver, "fan-in", new ChannelOptions { Grouped = true, RingCapacity = 4096 });
        var group = new IicChannelGroup(receiver, WaitStrategy.Adaptive);
        var children = new List<ChildProcess>();
        var accepted = new List<IicChannel>();
        try
        {
            for (var s = 0; s < senders; s++)
            {
                children.Add(ChildProcess.Start("group-sender", name, _socketDirectory, "fan-in",
                    channelsPerSender.ToString(CultureInfo.InvariantCulture), perChannel.ToString(CultureInfo.InvariantCulture), "4096"));
            }
            var total = senders * channelsPerSender;
            for (var i = 0; i < total; i++)
            {
                IicChannel channel;
                try
                {
                    channel = listener.Accept(TimeSpan.FromSeconds(60));
                }
                catch (TimeoutException e)
                {
                    // Once on a quiet CI run (4 x 250): say which sender stopped connecting and why (its stderr).
                    Assert.Fail($"{e.Message} after {i} of {total} connections; hypervisor: {hypervisor.GrantCount} grants, {hypervisor.PartitionCount} partitions{Environment.NewLine}{string.Join(Environment.NewLine, children)}");
                    throw;
                }
                accepted.Add(channel);
                group.Add(channel);
            }
            foreach (var child in children)
            {
                Assert.Equal("connected", child.ReadLine(TimeSpan.FromSeconds(60)));
            }
            var workingSetBefore = Process.GetCurrentProcess().WorkingSet64;
            var expected = new Dictionary<(int Pid, int Channel), int>();
            var buffer = new byte[64];
            var received = 0;
            var deadline = Stopwatch.StartNew();
            while (received < total * perChannel)
            {
                var ready = group.WaitAny(TimeSpan.FromSeconds(30));
                Assert.True(ready is not null, $"no channel became ready within 30 s after {received} of {total * perChannel} messages");
                while (ready.TryReceive(buffer, out var length))
                {
                    Assert.Equal(12, length);
                    var key = (BitConverter.ToInt32(buffer.AsSpan(8)), BitConverter.ToInt32(buffer));
                    var sequence = BitConverter.ToInt32(buffer.AsSpan(4));
                    var next = expected.GetValueOrDefault(key);
                    Assert.True(sequence == next, $"channel {key}: got message {sequence}, expected {next} (lost, duplicated or reordered)");
                    expected[key] = next + 1;
                    received++;
                }
            }
            var workingSetAfter = Process.GetCurrentProcess().WorkingSet64;
            output.WriteLine($"{received} messages from {senders} processes over {total} channels in {deadline.ElapsedMilliseconds} ms; parks {group.GetStatistics().Parks}, park timeouts {group.GetStatistics().ParkTimeouts}; working set {workingSetBefore >> 20} -> {workingSetAfter >> 20} MiB");
            Assert.Equal(total, expected.Count);
            Assert.All(expected.Values, count => Assert.Equal(perChannel, count));
            // The receive loop allocates nothing per message; 64 MiB covers the runtime's own growth (JIT, GC heaps).
            Assert.True(workingSetAfter - workingSetBefore < 64 << 20, $"the receiver's working set grew by {(workingSetAfter - workingSetBefore) >> 20} MiB");
            foreach (var child in children)
            {
                Assert.Equal("sent", child.ReadLine(TimeSpan.FromSeconds(30)));
                child.Process.StandardInput.Close();
            }
            foreach (var child in children)
            {
                child.AssertExit(0, TimeSpan.FromSeconds(30));
            }
        }
        finally
        {
            foreach (var channel in accepted)
            {
                channel.Dispose();
            }
            foreach (var child in children)
            {
                child.Dispose();
            }
        }
    }
}
