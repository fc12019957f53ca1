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
/// rings take them until the receiver says stop, then a stop mark; every message is verified, and the rate is the
/// messages verified in a window of the duration that opens after the warm-up once every sender has delivered one
/// (<c>IIC_PERF_FANIN_WINDOW=0</c>: each sender stops by its own clock after warm-up + duration and the rate runs
/// from go to the last stop, as before round 11b).
/// </summary>
internal static class FanInBench
{
    public const string Verb = "__fanin";
    private const int Size = 32;
    private const int PollLimit = 256;
    private static readonly TimeSpan s_startup = TimeSpan.FromSeconds(60);
    private static readonly bool s_windowed = Environment.GetEnvironmentVariable("IIC_PERF_FANIN_WINDOW") != "0";
    private static readonly bool s_trace = PhaseTrace.Enabled;
    private const double SafetyS = 5; // a windowed sender's bound beyond warm-up + duration, should no stop come
    private static int s_runs;

    // Round 13: the senders of one fan-in row serve the next (a row of K senders reuses the K idle ones of the row
    // before and starts only the rest), so the five rows start 16 sender processes instead of 31: each idles between
    // rows blocked on its standard input, keeps its partition, and joins the next row's service when told. The last
    // row (the most senders) ends them. IIC_PERF_FANIN_REUSE=0: fresh senders for every row, as before.
    private static readonly bool s_reuse = Environment.GetEnvironmentVariable("IIC_PERF_FANIN_REUSE") != "0";
    private static readonly List<HelperProcess> s_idle = [];

    /// <summary>One fan-in row; <paramref name="last"/>: no later fan-in row will reuse its senders.</summary>
    public static BenchResult Run(int senders, double durationS, double warmupS, bool last = true)
    {
        var service = string.Create(CultureInfo.InvariantCulture, $"fanin-{Interlocked.Increment(ref s_runs)}");
        var mode = WaitModes.Adaptive;
        var options = new ChannelOptions { WaitStrategy = WaitStrategy.Parse(mode), Grouped = true, Name = "fanin" };
        using var listener = IicListener.Listen(IicHost.Partition, service, options);
        var children = new List<HelperProcess>();
        var channels = new List<IicChannel>();
        var succeeded = false;
        try
        {
            // Windowed: a sender sends until the receiver tells it to stop (its SECONDS are only a safety bound);
            // otherwise for warm-up + duration from its own go, as before round 11b.
            var seconds = (s_windowed ? -(warmupS + durationS + SafetyS) : warmupS + durationS).ToString(CultureInfo.InvariantCulture);
            while (children.Count < senders && s_idle.Count > 0)
            {
                var idle = s_idle[^1];
                s_idle.RemoveAt(s_idle.Count - 1);
                try
                {
                    if (!idle.IsRunning)
                    {
                        throw new IOException("exited");
                    }
                    idle.WriteLine(service + " " + seconds);
                    children.Add(idle);
                }
                catch (IOException)
                {
                    idle.Dispose();
                }
            }
            while (children.Count < senders)
            {
                children.Add(HelperProcess.Start(Verb, IicHost.HypervisorName, IicHost.SocketDirectory, service, seconds));
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
            var start = Stopwatch.GetTimestamp();
            foreach (var channel in channels)
            {
                channel.Send(go);
            }
            // The rate is taken over a window in which every sender sends (round 11b): it opens once the warm-up
            // has passed AND every sender has delivered a message (16 senders on 2 CPUs do not all start at go:
            // the last one's first message arrived 0.7-0.9 s after go), and closes after the duration; then the
            // receiver tells every sender to stop and reads on to each one's stop mark. Before round 11b each
            // sender stopped by its own clock and the rate ran from go to the last stop: warm-up, staggered starts
            // and a tail of few senders were all in it, and at 16 senders the first stopped before the last had
            // started. Every message of the whole run is still verified. IIC_PERF_FANIN_WINDOW=0 restores the old
            // span, for an A/B. If the last sender has not delivered within SafetyS, the window opens anyway (said).
            var windowed = s_windowed;
            var openAt = start + (long)(warmupS * Stopwatch.Frequency);
            var duration = (long)(durationS * Stopwatch.Frequency);
            var closeAt = long.MaxValue;
            var opened = !windowed;
            var closed = false;
            var started = 0;
            long total = 0;
            long totalAtOpen = 0;
            long totalAtClose = 0;
            var openedAt = start;
            var closedAt = start;
            var cpuStart = CpuClock.ProcessSeconds;
            var cpuEnd = cpuStart;
            var stopped = 0;
            var limit = TimeSpan.FromSeconds(30 + (2 * (warmupS + durationS)));
            while (stopped < senders)
            {
                var ready = group.WaitAny(limit) ?? throw new TimeoutException($"Fan-in: {senders - stopped} sender(s) went silent for {limit.TotalSeconds:0} s.");
                ref var verifier = ref verifiers[index[ready]];
                var wasStopped = verifier.Stopped;
                var countBefore = verifier.Count;
                ready.Poll(ref verifier, PollLimit);
                total += verifier.Count - countBefore;
                if (countBefore == 0 && verifier.Count > 0)
                {
                    started++;
                }
                var stoppedNow = verifier.Stopped && !wasStopped;
                if (stoppedNow)
                {
                    stopped++;
                }
                if (!closed && windowed)
                {
                    var now = Stopwatch.GetTimestamp();
                    if (!opened && ((started == senders && now >= openAt) || now >= openAt + (long)(SafetyS * Stopwatch.Frequency)))
                    {
                        if (started < senders)
                        {
                            Console.Error.WriteLine($"Fan-in {senders}: only {started} senders had delivered {SafetyS} s after the warm-up; the window opens without the others.");
                        }
                        opened = true;
                        openedAt = now;
                        totalAtOpen = total;
                        cpuStart = CpuClock.ProcessSeconds;
                        closeAt = now + duration;
                    }
                    else if (opened && (now >= closeAt || stoppedNow))
                    {
                        closed = true;
                        closedAt = now;
                        totalAtClose = total;
                        cpuEnd = CpuClock.ProcessSeconds;
                        MessageStamp.Write(go, MessageStamp.Stop);
                        foreach (var channel in channels)
                        {
                            channel.Send(go); // stop now: each sender answers with its stop mark
                        }
                    }
                }
            }
            if (!windowed || !closed)
            {
                // Old span (the switch), or a window that never closed (a sender stopped before all had started):
                // go to the last stop.
                totalAtOpen = 0;
                totalAtClose = total;
                openedAt = start;
                closedAt = Stopwatch.GetTimestamp();
                cpuEnd = CpuClock.ProcessSeconds;
                if (windowed)
                {
                    Console.Error.WriteLine($"Fan-in {senders}: no window in which all senders sent (started {started}); the rate spans go to the last stop.");
                }
            }
            var elapsed = Stopwatch.GetElapsedTime(openedAt, closedAt).TotalSeconds;
            var cpu = cpuEnd - cpuStart;
            var measured = totalAtClose - totalAtOpen;
            if (s_trace)
            {
                Console.Error.WriteLine($"fan-in {senders}: window {Stopwatch.GetElapsedTime(start, openedAt).TotalSeconds:0.000}-{Stopwatch.GetElapsedTime(start, closedAt).TotalSeconds:0.000} s after go, {measured:N0} of {total:N0} messages in it; whole span {total / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e6:0.0} M msgs/s");
            }
            succeeded = true;
            return new BenchResult
            {
                Test = BenchTest.FanIn.ToName(),
                Transport = "iic",
                Mode = mode,
                Api = ReceiveApi.Poll.ToName(),
                Size = Size,
                Senders = senders,
                Count = measured,
                MsgsPerS = (long)(measured / elapsed),
                BytesPerS = (long)(measured * (double)Size / elapsed),
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
                if (succeeded && s_reuse && !last)
                {
                    s_idle.Add(child); // it waits on its input for the next row (a failed row's senders are ended)
                }
                else
                {
                    child.Dispose();
                }
            }
            if (last || !succeeded)
            {
                Shutdown();
            }
        }
    }

    /// <summary>Ends the idle senders (the end of the fan-in rows, or of the run).</summary>
    public static void Shutdown()
    {
        foreach (var child in s_idle)
        {
            child.Dispose();
        }
        s_idle.Clear();
    }

    /// <summary>
    /// A sender: <c>__fanin HYPERVISOR SOCKETDIR SERVICE SECONDS</c>. After its row it stays connected until the
    /// parent sends the next row's <c>SERVICE SECONDS</c> line (then it leaves the old channel and joins the new
    /// service with the same partition) or closes its input (then it exits).
    /// </summary>
    public static int RunChild(string[] args)
    {
        try
        {
            using var partition = Partition.Attach(args[1], "fanin-sender-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[2]); // partition names are unique
            using var rows = new System.Collections.Concurrent.BlockingCollection<string>();
            var busy = true;
            var reader = new Thread(() =>
            {
                try
                {
                    using var input = new StreamReader(Console.OpenStandardInput());
                    while (input.ReadLine() is { } line)
                    {
                        rows.Add(line);
                    }
                }
                catch (IOException)
                {
                    // the end, too
                }
                rows.CompleteAdding();
                if (Volatile.Read(ref busy))
                {
                    Environment.Exit(3); // the parent gave up on us in the middle of a row
                }
            })
            { IsBackground = true, Name = "parent watchdog" };
            reader.Start();
            var (service, secondsText) = (args[3], args[4]);
            while (true)
            {
                using (var channel = IicChannel.Connect(partition, service, new ChannelOptions { Name = "fanin" }, s_startup))
                {
                    SendRow(channel, double.Parse(secondsText, CultureInfo.InvariantCulture));
                    Volatile.Write(ref busy, false);
                    // Stay connected until the parent has read everything and sends the next row or closes our input.
                    if (!rows.TryTake(out var next, Timeout.Infinite))
                    {
                        return 0;
                    }
                    Volatile.Write(ref busy, true);
                    var parts = next.Split(' ');
                    (service, secondsText) = (parts[0], parts[1]);
                }
            }
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"fan-in sender failed: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static void SendRow(IicChannel channel, double seconds)
    {
        var untilTold = seconds < 0; // windowed: send until the receiver's stop (the seconds only bound it)
        seconds = Math.Abs(seconds);
        var message = new byte[Size];
        if (!channel.TryReceive(message, out var length, s_startup))
        {
            throw new TimeoutException("No go message from the receiver.");
        }
        MessageStamp.Verify(message.AsSpan(0, length), Size, MessageStamp.Mark);
        MessageStamp.Fill(message);
        var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        long sequence = 0;
        var control = new byte[Size];
        while (Stopwatch.GetTimestamp() < end)
        {
            sequence = SendBatch(channel, message, sequence);
            if (untilTold && channel.TryReceive(control, out var controlLength))
            {
                MessageStamp.Verify(control.AsSpan(0, controlLength), Size, MessageStamp.Stop);
                break;
            }
        }
        MessageStamp.Write(message, MessageStamp.Stop);
        channel.Send(message);
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
