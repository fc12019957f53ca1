using System.Globalization;
using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;
using Xunit.Abstractions;

namespace IIC.Transport.Tests;

/// <summary>
/// Back pressure across processes: a sender that outruns a slow receiver blocks on the full ring, sleeping until
/// the receiver frees space ("room armed", RingWriter.WaitForRoom), and resumes; nothing is lost or reordered.
/// </summary>
[Collection(nameof(IsolatedTests))]
public sealed class BackPressureTests(ITestOutputHelper output) : IDisposable
{
    private const int Messages = 400;
    private const int Size = 500; // 7 records of 576 bytes fill a 4 KiB ring
    private readonly string _socketDirectory = Directory.CreateTempSubdirectory("iic-room-").FullName;

    public void Dispose() => Directory.Delete(_socketDirectory, recursive: true);

    [Fact]
    public void A_sender_blocked_by_a_slow_receiver_sleeps_and_resumes_and_nothing_is_lost()
    {
        var name = "room-" + Guid.NewGuid().ToString("N")[..8];
        using var hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = _socketDirectory });
        using var receiver = Partition.Attach(name, "receiver", _socketDirectory);
        using var listener = IicListener.Listen(receiver, "room", new ChannelOptions { RingCapacity = 4096 });
        using var sender = ChildProcess.Start("room-sender", name, _socketDirectory, "room",
            Messages.ToString(CultureInfo.InvariantCulture), Size.ToString(CultureInfo.InvariantCulture));
        using var channel = listener.Accept(TimeSpan.FromSeconds(60));
        Assert.Equal("connected", sender.ReadLine(TimeSpan.FromSeconds(60)));

        // The slow receiver: a pause after every message keeps the ring full, so the sender spends nearly all its
        // time blocked. (The pause paces the receiver; it synchronises nothing.)
        var buffer = new byte[Size];
        for (var sequence = 0; sequence < Messages; sequence++)
        {
            Assert.True(channel.TryReceive(buffer, out var length, TimeSpan.FromSeconds(30)), $"message {sequence} did not arrive within 30 s");
            Assert.Equal(Size, length);
            Assert.Equal(sequence, BitConverter.ToInt32(buffer));
            for (var i = 4; i < Size; i++)
            {
                Assert.True(buffer[i] == (byte)(sequence + i), $"message {sequence} byte {i} is corrupt");
            }
            Thread.Sleep(TimeSpan.FromMilliseconds(2)); // a slow receiver on purpose (load shaping: the sender must meet a full ring), not synchronisation
        }
        Assert.False(channel.TryReceive(buffer, out _), "a message beyond the last one arrived");

        var report = sender.ReadLine(TimeSpan.FromSeconds(30)).Split(' ');
        Assert.Equal("sent", report[0]);
        var cpu = double.Parse(report[1], CultureInfo.InvariantCulture);
        var wall = double.Parse(report[2], CultureInfo.InvariantCulture);
        var stalls = long.Parse(report[3], CultureInfo.InvariantCulture);
        output.WriteLine($"sender: {cpu * 1000:0.0} ms CPU in {wall * 1000:0} ms blocked-mostly sending, {stalls} ring-full stalls");
        Assert.True(stalls > 0, "the sender never found the ring full: the test did not exercise back pressure");
        Assert.True(wall > 0.4, $"the sender finished in {wall:0.000} s: it cannot have waited for the slow receiver");
        // Generous: spinning through the wait would cost about the whole wall time; sleeping costs a wake per freed
        // batch of records (a few ms in all). Half a CPU leaves room for a loaded 2-core box and the runtime's threads.
        Assert.True(cpu < 0.5 * wall, $"the blocked sender used {cpu:0.000} s of CPU in {wall:0.000} s: it spins instead of sleeping");
        sender.Process.StandardInput.Close();
        sender.AssertExit(0);
    }
}
