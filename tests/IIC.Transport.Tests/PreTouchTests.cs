using System.Globalization;
using IIC.Hardware;

namespace IIC.Transport.Tests;

/// <summary>
/// <see cref="ChannelOptions.PreTouch"/>: the window's pages are committed and mapped when the channel opens, so the
/// first lap of a ring takes no page fault (counted per thread in /proc/thread-self/stat); without it the same lap
/// faults once per 4 KiB page the writer first touches (the negative control that shows the count can fail).
/// </summary>
public sealed class PreTouchTests
{
    private const int RingCapacity = 1 << 20;
    private const int MessageLength = 32;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_pre_touched_pair_takes_no_page_fault_on_its_first_lap(bool preTouch)
    {
        var options = new ChannelOptions { RingCapacity = RingCapacity, PreTouch = preTouch, SingleWriter = true, SingleReader = true };
        var (first, second) = IicChannel.CreatePair(options);
        using (first)
        using (second)
        {
            var faults = FaultsOverOneLap(first, second);
            AssertFaults(preTouch, faults);
        }
    }

    [Fact]
    public async Task Channels_granted_by_a_hypervisor_are_pre_touched_on_both_sides()
    {
        var name = "pretouch-" + Guid.NewGuid().ToString("N")[..8];
        var options = new ChannelOptions { RingCapacity = RingCapacity, PreTouch = true, SingleWriter = true, SingleReader = true };
        using var hypervisor = Hypervisor.Start(name);
        using var server = Partition.Attach(name, "server");
        using var client = Partition.Attach(name, "client");
        using var listener = IicListener.Listen(server, "touched", options);
        var accept = listener.AcceptAsync().AsTask();
        using var channel = IicChannel.Connect(client, "touched", options, TimeSpan.FromSeconds(30));
        using var accepted = await accept.WaitAsync(TimeSpan.FromSeconds(30));
        // Each side maps the window on its own (two mappings in this process): the client writes, the server reads.
        AssertFaults(preTouched: true, FaultsOverOneLap(channel, accepted));
        AssertFaults(preTouched: true, FaultsOverOneLap(accepted, channel));
    }

    /// <summary>This thread's minor page faults while it sends a ring's capacity of small messages and reads each back.</summary>
    private static long FaultsOverOneLap(IicChannel sender, IicChannel receiver)
    {
        var message = new byte[MessageLength];
        var buffer = new byte[MessageLength];
        // The same calls on another (small) pair first, so the lap counts the ring's pages only: code is compiled on the
        // thread that first runs it (a method's first call, a loop's on-stack replacement), and the JIT's own memory
        // faults on that thread (in a fresh CI process a pre-touched lap once counted 193 faults).
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, SingleWriter = true, SingleReader = true });
        using (first)
        using (second)
        {
            Exchange(first, second, 2000, message, buffer);
        }
        var before = ThreadMinorFaults();
        Exchange(sender, receiver, RingCapacity / 64 + 64, message, buffer); // 64 B records: a little more than a lap
        return ThreadMinorFaults() - before;
    }

    /// <summary>Sends <paramref name="count"/> messages and reads each back. Fully optimised at its first call: no on-stack replacement later.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Exchange(IicChannel sender, IicChannel receiver, int count, byte[] message, byte[] buffer)
    {
        for (var i = 0; i < count; i++)
        {
            message[0] = (byte)i;
            sender.Send(message);
            if (!receiver.TryReceive(buffer, out var length, TimeSpan.FromSeconds(30)) || length != MessageLength || buffer[0] != (byte)i)
            {
                Assert.Fail($"message {i} did not come back intact");
            }
        }
    }

    private static void AssertFaults(bool preTouched, long faults)
    {
        if (preTouched)
        {
            // A handful at most (the stack, the runtime); the lap itself touches 256 pages of ring.
            Assert.True(faults < 32, $"a pre-touched lap took {faults} page faults");
        }
        else
        {
            Assert.True(faults >= 128, $"the lap without pre-touch took only {faults} page faults: the count does not see first touches (transparent huge pages for shmem?)");
        }
    }

    /// <summary>Field 10 (minflt) of /proc/thread-self/stat: this thread's minor faults.</summary>
    private static long ThreadMinorFaults()
    {
        var stat = File.ReadAllText("/proc/thread-self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }
}
