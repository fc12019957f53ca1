using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Results;
using IIC.Perf.Transports.Iic;
using IIC.Transport;

namespace IIC.Perf.Scale;

/// <summary>
/// Fan-in: K sending processes, each on its own channel, into ONE receiving thread here that waits on all of them
/// as an <see cref="IicChannelGroup"/> and polls in place whichever is ready, verifying every byte of every message
/// (per channel: sequence and checksum). The senders wait for a go message, send 32 B messages as fast as the
/// rings take them for the duration, then a stop; the rate is every message verified, over the time from go to the
/// last stop.
/// </summary>
internal static class FanInBench
{
    public const string Verb = "__fanin";
    private const int Size = 32;
    private const int PollLimit = 256;
    private static readonly TimeSpan s_startup = TimeSpan.FromSeconds(60);
    private static int s_runs;

    public static BenchResult Run(int senders, double durationS, double warmupS)
    {
        var service = string.Create(CultureInfo.InvariantCulture, $"fanin-{Interlocked.Increment(ref s_runs)}");
        var mode = WaitModes.Adaptive;
        var options = new ChannelOptions { WaitStrategy = WaitStrategy.Parse(mode), Grouped = true, Name = "fanin" };
        using var listener = IicListener.Listen(IicHost.Partition, service, options);
        var children = new List<HelperProcess>();
        var channels = new List<IicChannel>();
        try
        {
            for (var i = 0; i < senders; i++)
            {
                children.Add(HelperProcess.Start(Verb, IicHost.HypervisorName, IicHost.SocketDirectory, service,
                    (warmupS + durationS).ToString(CultureInfo.InvariantCulture)));
            }
            var group = new IicChannelGroup(IicHost.Partition, WaitStrategy.Parse(mode));
            var index = new Dictionary<IicChannel, int>();
            for (var i = 0; i < senders; i++)
            {
                var channel = listener.Accept(s_startup);
                channels.Add(channel);
                index.Add(channel, i);
                group.Add(channel);
            }
            var verifiers = new Verifier[senders];
            var go = new byte[Size];
            MessageStamp.Fill(go);
            MessageStamp.Write(go, MessageStamp.Mark);
            var cpuStart = CpuClock.ProcessSeconds;
            var start = Stopwatch.GetTimestamp();
            foreach (var channel in channels)
            {
                channel.Send(go);
            }
            var stopped = 0;
            var limit = TimeSpan.FromSeconds(30 + (2 * (warmupS + durationS)));
            while (stopped < senders)
            {
                var ready = group.WaitAny(limit) ?? throw new TimeoutException($"Fan-in: {senders - stopped} sender(s) went silent for {limit.TotalSeconds:0} s.");
                ref var verifier = ref verifiers[index[ready]];
                var wasStopped = verifier.Stopped;
                ready.Poll(ref verifier, PollLimit);
                if (verifier.Stopped && !wasStopped)
                {
                    stopped++;
                }
            }
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var cpu = CpuClock.ProcessSeconds - cpuStart;
            var total = verifiers.Sum(v => v.Count);
            return new BenchResult
            {
                Test = BenchTest.FanIn.ToName(),
                Transport = "iic",
                Mode = mode,
                Api = ReceiveApi.Poll.ToName(),
                Size = Size,
                Senders = senders,
                Count = total,
                MsgsPerS = (long)(total / elapsed),
                BytesPerS = (long)(total * (double)Size / elapsed),
                CpuServerS = Math.Round(cpu, 4),
                CpuS = Math.Round(cpu, 4),
                ElapsedS = Math.Round(elapsed, 4),
            };
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
            foreach (var child in children)
            {
                child.Dispose();
            }
        }
    }

    /// <summary>A sender: <c>__fanin HYPERVISOR SOCKETDIR SERVICE SECONDS</c>.</summary>
    public static int RunChild(string[] args)
    {
        try
        {
            var seconds = double.Parse(args[4], CultureInfo.InvariantCulture);
            using var partition = Partition.Attach(args[1], "fanin-sender-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[2]); // partition names are unique
            using var channel = IicChannel.Connect(partition, args[3], new ChannelOptions { Name = "fanin" }, s_startup);
            var done = new ManualResetEventSlim();
            HelperProcess.WatchParent(() => Environment.Exit(done.IsSet ? 0 : 3)); // 3: the parent gave up on us
            var message = new byte[Size];
            if (!channel.TryReceive(message, out var length, s_startup))
            {
                throw new TimeoutException("No go message from the receiver.");
            }
            MessageStamp.Verify(message.AsSpan(0, length), Size, MessageStamp.Mark);
            MessageStamp.Fill(message);
            var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            long sequence = 0;
            while (Stopwatch.GetTimestamp() < end)
            {
                sequence = SendBatch(channel, message, sequence);
            }
            MessageStamp.Write(message, MessageStamp.Stop);
            channel.Send(message);
            done.Set();
            // Stay connected until the parent has read everything and closes our input.
            Thread.Sleep(Timeout.Infinite);
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"fan-in sender failed: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long SendBatch(IicChannel channel, byte[] message, long sequence)
    {
        for (var i = 0; i < 256; i++)
        {
            MessageStamp.Write(message, sequence++);
            channel.Send(message);
        }
        return sequence;
    }

    /// <summary>One sender's stream: every message in order and intact, then the stop.</summary>
    private struct Verifier : IMessageHandler
    {
        public long Count;
        public bool Stopped;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void OnMessage(ReadOnlySpan<byte> message)
        {
            var sequence = MessageStamp.Read(message);
            if (sequence == MessageStamp.Stop)
            {
                MessageStamp.Verify(message, Size, sequence);
                Stopped = true;
                return;
            }
            MessageStamp.Verify(message, Size, Count);
            Count++;
        }
    }
}
