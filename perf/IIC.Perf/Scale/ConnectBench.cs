using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HdrHistogram;
using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Results;
using IIC.Perf.Transports.Iic;
using IIC.Transport;

namespace IIC.Perf.Scale;

/// <summary>
/// A connection's whole life, timed: connect, one 32 B round trip (verified), close. IICFast (through the
/// hypervisor: a grant, a sealed window, two mappings) against TCP over loopback. The server is a child process
/// that accepts, echoes one message and closes, in a loop.
/// </summary>
internal static class ConnectBench
{
    public const string Verb = "__connect";
    public const string Iic = "iic";
    public const string Tcp = "tcp";
    private const int Size = 32;
    private const int MinCycles = 20;
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(30);
    private static int s_runs;

    // IIC_PERF_CONNECT_PHASES=1: also time each phase of a cycle (connect, round trip, close) and print their
    // percentiles on standard error, to see where a cycle's time goes (the row itself is unchanged).
    private static readonly bool s_phases = Environment.GetEnvironmentVariable("IIC_PERF_CONNECT_PHASES") == "1";
    private static readonly LongHistogram[] s_phaseHistograms = [LatencySummary.NewTickHistogram(), LatencySummary.NewTickHistogram(), LatencySummary.NewTickHistogram()];
    private static bool s_recording;

    public static IReadOnlyList<string> Kinds { get; } = [Iic, Tcp];

    public static BenchResult Run(string kind, double durationS, double warmupS)
    {
        var service = string.Create(CultureInfo.InvariantCulture, $"connect-{Interlocked.Increment(ref s_runs)}");
        using var server = kind == Iic
            ? HelperProcess.Start(Verb, Iic, IicHost.HypervisorName, IicHost.SocketDirectory, service)
            : HelperProcess.Start(Verb, Tcp);
        var address = server.WaitLine("@ready", s_wait);
        var message = new byte[Size];
        var echo = new byte[Size];
        MessageStamp.Fill(message);
        long sequence = 0;
        Action cycle = kind == Iic
            ? () => IicCycle(service, message, echo, sequence++)
            : () => TcpCycle(int.Parse(address, CultureInfo.InvariantCulture), message, echo, sequence++);
        var warmupEnd = Stopwatch.GetTimestamp() + (long)(warmupS * Stopwatch.Frequency);
        do
        {
            cycle();
        }
        while (Stopwatch.GetTimestamp() < warmupEnd);

        var histogram = LatencySummary.NewTickHistogram();
        foreach (var phase in s_phaseHistograms)
        {
            phase.Reset();
        }
        s_recording = s_phases;
        var sleepsBefore = s_phases ? VoluntarySwitches() : 0;
        var cpuStart = CpuClock.ProcessSeconds;
        var start = Stopwatch.GetTimestamp();
        var stopAt = start + (long)(durationS * Stopwatch.Frequency);
        long count = 0;
        while (count < MinCycles || Stopwatch.GetTimestamp() < stopAt)
        {
            var before = Stopwatch.GetTimestamp();
            cycle();
            histogram.RecordValue(Math.Min(Stopwatch.GetTimestamp() - before, LatencySummary.MaxTicks));
            count++;
        }
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = CpuClock.ProcessSeconds - cpuStart;
        if (s_recording)
        {
            s_recording = false;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[connect {kind}] {count} cycles, {(VoluntarySwitches() - sleepsBefore) / (double)count:0.00} sleeps (voluntary context switches) of the client thread per cycle"));
            string[] names = ["connect", "round trip", "close"];
            for (var i = 0; i < names.Length; i++)
            {
                var phase = LatencySummary.FromTicks(s_phaseHistograms[i]);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[connect {kind}] {names[i]}: p50 {phase.P50Ns / 1000.0:0.0} µs, p90 {phase.P90Ns / 1000.0:0.0} µs, mean {phase.MeanNs / 1000.0:0.0} µs"));
            }
        }
        var latency = LatencySummary.FromTicks(histogram);
        return new BenchResult
        {
            Test = BenchTest.Connect.ToName(),
            Transport = kind,
            Mode = kind == Iic ? WaitModes.Adaptive : WaitModes.Block,
            Size = Size,
            Count = count,
            MsgsPerS = (long)(count / elapsed),
            CpuClientS = Math.Round(cpu, 4),
            CpuS = Math.Round(cpu, 4),
            ElapsedS = Math.Round(elapsed, 4),
        }.WithLatency(latency);
    }

    private static void IicCycle(string service, byte[] message, byte[] echo, long sequence)
    {
        var t0 = Stopwatch.GetTimestamp();
        var channel = IicChannel.Connect(IicHost.Partition, service, null, s_wait);
        long t1, t2;
        try
        {
            t1 = Stopwatch.GetTimestamp();
            MessageStamp.Write(message, sequence);
            channel.Send(message);
            if (!channel.TryReceive(echo, out var length, s_wait))
            {
                throw new TimeoutException("The connect server did not echo within 30 s.");
            }
            MessageStamp.Verify(echo.AsSpan(0, length), Size, sequence);
            t2 = Stopwatch.GetTimestamp();
        }
        finally
        {
            channel.Dispose();
        }
        RecordPhases(t0, t1, t2);
    }

    private static void TcpCycle(int port, byte[] message, byte[] echo, long sequence)
    {
        var t0 = Stopwatch.GetTimestamp();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        long t1, t2;
        try
        {
            socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            t1 = Stopwatch.GetTimestamp();
            MessageStamp.Write(message, sequence);
            socket.Send(message);
            ReceiveAll(socket, echo);
            MessageStamp.Verify(echo, Size, sequence);
            t2 = Stopwatch.GetTimestamp();
        }
        finally
        {
            socket.Dispose();
        }
        RecordPhases(t0, t1, t2);
    }

    /// <summary>The calling thread's voluntary context switches so far: how often it slept.</summary>
    private static long VoluntarySwitches()
    {
        foreach (var line in File.ReadLines("/proc/thread-self/status"))
        {
            if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan("voluntary_ctxt_switches:".Length).Trim(), CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }

    private static void RecordPhases(long t0, long t1, long t2)
    {
        if (s_recording)
        {
            var t3 = Stopwatch.GetTimestamp();
            s_phaseHistograms[0].RecordValue(Math.Min(t1 - t0, LatencySummary.MaxTicks));
            s_phaseHistograms[1].RecordValue(Math.Min(t2 - t1, LatencySummary.MaxTicks));
            s_phaseHistograms[2].RecordValue(Math.Min(t3 - t2, LatencySummary.MaxTicks));
        }
    }

    private static void ReceiveAll(Socket socket, byte[] buffer)
    {
        var received = 0;
        while (received < buffer.Length)
        {
            var count = socket.Receive(buffer.AsSpan(received));
            if (count == 0)
            {
                throw new PeerGoneException("The peer closed the connection mid-message.");
            }
            received += count;
        }
    }

    /// <summary>The server: <c>__connect iic HYPERVISOR SOCKETDIR SERVICE</c> or <c>__connect tcp</c>; accepts, echoes one message, closes, until its input ends.</summary>
    public static int RunChild(string[] args)
    {
        HelperProcess.WatchParent(() => Environment.Exit(0));
        try
        {
            var buffer = new byte[Size];
            if (args[1] == Iic)
            {
                using var partition = Partition.Attach(args[2], "connect-server", args[3]);
                using var listener = IicListener.Listen(partition, args[4]);
                Console.Out.WriteLine("@ready");
                while (true)
                {
                    using var channel = listener.Accept(Timeout.InfiniteTimeSpan);
                    if (!channel.TryReceive(buffer, out var length, s_wait))
                    {
                        throw new TimeoutException("A client connected and sent nothing for 30 s.");
                    }
                    MessageStamp.Verify(buffer.AsSpan(0, length), Size, MessageStamp.Read(buffer));
                    channel.Send(buffer.AsSpan(0, length));
                }
            }
            using var socketListener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socketListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            socketListener.Listen(128);
            Console.Out.WriteLine("@ready " + ((IPEndPoint)socketListener.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture));
            while (true)
            {
                using var socket = socketListener.Accept();
                socket.NoDelay = true;
                ReceiveAll(socket, buffer);
                MessageStamp.Verify(buffer, Size, MessageStamp.Read(buffer));
                socket.Send(buffer);
            }
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"connect server failed: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }
}
