using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.ConnectBench;

/// <summary>
/// <c>IIC.ConnectBench timeline [cycles]</c>: a connection cycle's timeline, IICFast beside TCP. Runs itself again
/// with <c>IIC_CONNECT_TRACE</c> set (the library then stamps every step of connect, accept and close, in the
/// partitions, the hypervisor's loop and the channels), in interleaved blocks of iic and tcp cycles shaped like the
/// main job's connect row (a server thread accepts, echoes one 32 B message and closes; the client connects, sends,
/// receives and closes), and prints per kind the median time of every step from the cycle's start, the median gap
/// from the step before it, and each thread's sleeps (voluntary context switches) per cycle.
/// <c>IIC.ConnectBench analyse DIRECTORY</c> prints the same from trace files written elsewhere (e.g. by the main
/// job's connect row run with <c>IIC_CONNECT_TRACE=DIRECTORY</c>, whose server is another process).
/// </summary>
internal static class Timeline
{
    private const int Block = 50; // cycles per block: iic and tcp alternate, so both see the same placements
    private const int Capacity = 1 << 20;
    private static readonly long[] s_stamps = new long[Capacity];
    private static readonly int[] s_names = new int[Capacity];
    private static readonly int[] s_threads = new int[Capacity];
    private static readonly List<string> s_nameTable = [];
    private static int s_next;

    public static int Run(string[] args)
    {
        var cycles = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        var directory = Directory.CreateTempSubdirectory("iic-timeline-").FullName;
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        var entry = System.Reflection.Assembly.GetEntryAssembly()!.Location;
        if (!Environment.ProcessPath!.EndsWith("IIC.ConnectBench", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(entry); // run through the dotnet host
        }
        start.ArgumentList.Add("traced");
        start.ArgumentList.Add(cycles.ToString(CultureInfo.InvariantCulture));
        start.Environment["IIC_CONNECT_TRACE"] = directory;
        using (var child = Process.Start(start)!)
        {
            child.WaitForExit();
            if (child.ExitCode != 0)
            {
                Console.Error.WriteLine($"the traced run failed ({child.ExitCode}); traces in {directory}");
                return child.ExitCode;
            }
        }
        Analyse(directory);
        Directory.Delete(directory, recursive: true);
        return 0;
    }

    /// <summary>The child: interleaved blocks of iic and tcp cycles, with its own marks written beside the library's.</summary>
    public static int Traced(string[] args)
    {
        var cycles = int.Parse(args[1], CultureInfo.InvariantCulture);
        var traceDirectory = Environment.GetEnvironmentVariable("IIC_CONNECT_TRACE")!;
        var socketDirectory = Directory.CreateTempSubdirectory("iic-timeline-sock-").FullName;
        var name = "timeline-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var hypervisor = Hypervisor.Start(name, new HypervisorOptions { SocketDirectory = socketDirectory });
        using var serverPartition = Partition.Attach(name, "server", socketDirectory);
        using var clientPartition = Partition.Attach(name, "client", socketDirectory);
        using var listener = IicListener.Listen(serverPartition, "timeline");
        using var tcpListener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcpListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        tcpListener.Listen(128);
        var port = ((IPEndPoint)tcpListener.LocalEndPoint!).Port;
        var iicServer = new Thread(() => UntilStopped(() => IicServer(listener))) { IsBackground = true, Name = "iic-server" };
        var tcpServer = new Thread(() => UntilStopped(() => TcpServer(tcpListener))) { IsBackground = true, Name = "tcp-server" };
        iicServer.Start();
        tcpServer.Start();
        var message = new byte[32];
        var echo = new byte[32];
        var sleeps = new Dictionary<string, Dictionary<string, long>> { ["iic"] = [], ["tcp"] = [] };
        var counted = new Dictionary<string, int> { ["iic"] = 0, ["tcp"] = 0 };
        var warmup = Math.Max(2 * Block, cycles / 10);
        for (var done = -warmup; done < cycles; done += Block)
        {
            foreach (var kind in (string[])["iic", "tcp"])
            {
                var before = ThreadSleeps();
                for (var i = 0; i < Block; i++)
                {
                    if (kind == "iic")
                    {
                        IicCycle(clientPartition, message, echo);
                    }
                    else
                    {
                        TcpCycle(port, message, echo);
                    }
                }
                if (done >= 0)
                {
                    counted[kind] += Block;
                    foreach (var (thread, after) in ThreadSleeps())
                    {
                        sleeps[kind][thread] = sleeps[kind].GetValueOrDefault(thread) + after - before.GetValueOrDefault(thread);
                    }
                }
            }
        }
        var text = new StringBuilder();
        foreach (var (kind, perThread) in sleeps)
        {
            foreach (var (thread, count) in perThread.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                var perCycle = count / (double)counted[kind];
                if (perCycle >= 0.01)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{kind} {perCycle:0.00} {thread}\n");
                }
            }
        }
        File.WriteAllText(Path.Combine(traceDirectory, "sleeps.txt"), text.ToString());
        WriteMarks(traceDirectory, warmupCycles: warmup);
        Directory.Delete(socketDirectory, recursive: true);
        return 0;
    }

    /// <summary>Runs a server loop until the run disposes its listener.</summary>
    private static void UntilStopped(Action server)
    {
        try
        {
            server();
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException or HypervisorException)
        {
            // the run ended
        }
    }

    private static void IicCycle(Partition partition, byte[] message, byte[] echo)
    {
        Mark("iic.cycle");
        var channel = IicChannel.Connect(partition, "timeline", null, TimeSpan.FromSeconds(30));
        Mark("cli.connected");
        channel.Send(message);
        Mark("cli.sent");
        if (!channel.TryReceive(echo, out _, TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("no echo in 30 s");
        }
        Mark("cli.received");
        channel.Dispose();
        Mark("cli.closed");
    }

    private static void IicServer(IicListener listener)
    {
        var buffer = new byte[32];
        while (true)
        {
            var channel = listener.Accept(Timeout.InfiniteTimeSpan);
            Mark("srv.accepted");
            if (!channel.TryReceive(buffer, out var length, TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException("no message in 30 s");
            }
            Mark("srv.received");
            channel.Send(buffer.AsSpan(0, length));
            Mark("srv.sent");
            channel.Dispose();
            Mark("srv.closed");
        }
    }

    private static void TcpCycle(int port, byte[] message, byte[] echo)
    {
        Mark("tcp.cycle");
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        Mark("cli.connected");
        socket.Send(message);
        Mark("cli.sent");
        ReceiveAll(socket, echo);
        Mark("cli.received");
        socket.Dispose();
        Mark("cli.closed");
    }

    private static void TcpServer(Socket listener)
    {
        var buffer = new byte[32];
        while (true)
        {
            var socket = listener.Accept();
            Mark("srv.accepted");
            socket.NoDelay = true;
            ReceiveAll(socket, buffer);
            Mark("srv.received");
            socket.Send(buffer);
            Mark("srv.sent");
            socket.Dispose();
            Mark("srv.closed");
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
                throw new IOException("peer closed mid-message");
            }
            received += count;
        }
    }

    private static void Mark(string name)
    {
        var stamp = Stopwatch.GetTimestamp();
        int index;
        lock (s_nameTable)
        {
            index = s_nameTable.IndexOf(name);
            if (index < 0)
            {
                s_nameTable.Add(name);
                index = s_nameTable.Count - 1;
            }
        }
        var i = Interlocked.Increment(ref s_next) - 1;
        if (i < Capacity)
        {
            s_stamps[i] = stamp;
            s_names[i] = index;
            s_threads[i] = Environment.CurrentManagedThreadId;
        }
    }

    private static void WriteMarks(string directory, int warmupCycles)
    {
        var count = Math.Min(Interlocked.Exchange(ref s_next, Capacity), Capacity);
        var scale = 1_000_000_000.0 / Stopwatch.Frequency;
        var text = new StringBuilder();
        var pid = Environment.ProcessId;
        text.Append(CultureInfo.InvariantCulture, $"# warmup {warmupCycles}\n");
        for (var i = 0; i < count; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"{(long)(s_stamps[i] * scale)} {pid} {s_threads[i]} {s_nameTable[s_names[i]]} 0\n");
        }
        File.WriteAllText(Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"bench-{pid}.trace")), text.ToString());
    }

    /// <summary>Each thread of this process ("tid name") with its voluntary context switches so far.</summary>
    internal static Dictionary<string, long> ThreadSleeps()
    {
        var result = new Dictionary<string, long>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var line = File.ReadLines(Path.Combine(task, "status")).First(l => l.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal));
                result[Path.GetFileName(task) + " " + name] = long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }
        return result;
    }

    /// <summary>Each thread's time on a CPU so far, in ns (/proc/self/task/*/schedstat, first field), by "tid name".</summary>
    internal static Dictionary<string, long> ThreadCpuNs()
    {
        var result = new Dictionary<string, long>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var stat = File.ReadAllText(Path.Combine(task, "schedstat"));
                result[Path.GetFileName(task) + " " + name] = long.Parse(stat.AsSpan(0, stat.IndexOf(' ')), CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // the thread ended meanwhile
            }
        }
        return result;
    }

    private static readonly Dictionary<int, string> s_messageTypes = new()
    {
        [1] = "Attach", [2] = "Attached", [3] = "Error", [4] = "Listen", [5] = "Listening", [6] = "Connect", [7] = "Connected",
        [8] = "Incoming", [9] = "Unlisten", [10] = "Release", [11] = "PeerDied", [12] = "Cancel", [13] = "Accepted",
    };

    /// <summary>Merges every <c>*.trace</c> in <paramref name="directory"/> and prints each kind's per-step medians.</summary>
    public static void Analyse(string directory)
    {
        var events = new List<(long Ns, string Thread, string Step)>();
        var warmup = 0;
        var threads = new Dictionary<string, string>(); // "pid/tid" -> short name
        foreach (var file in Directory.EnumerateFiles(directory, "*.trace").Order(StringComparer.Ordinal))
        {
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith("# warmup ", StringComparison.Ordinal))
                {
                    warmup = int.Parse(line.AsSpan(9), CultureInfo.InvariantCulture);
                    continue;
                }
                var parts = line.Split(' ');
                if (parts.Length != 5)
                {
                    continue;
                }
                var argument = int.Parse(parts[4], CultureInfo.InvariantCulture);
                var step = parts[3];
                step += step switch
                {
                    "ControlSent" or "ControlReceived" or "HypervisorReceived" or "HypervisorSent" => ":" + s_messageTypes.GetValueOrDefault(argument, argument.ToString(CultureInfo.InvariantCulture)),
                    "WindowOpened" or "ChannelOpened" or "CloseStart" or "CloseMarked" or "CloseFenced" or "CloseEnd" or "GrantQueued" or "EndpointStart" or "CloseUnmapped" => ":side" + parts[4],
                    _ => "",
                };
                var key = parts[1] + "/" + parts[2];
                if (!threads.TryGetValue(key, out var thread))
                {
                    thread = "T" + threads.Count.ToString(CultureInfo.InvariantCulture);
                    threads[key] = thread;
                }
                events.Add((long.Parse(parts[0], CultureInfo.InvariantCulture), thread, step));
            }
        }
        events.Sort((a, b) => a.Ns.CompareTo(b.Ns));
        var anchors = events.Any(e => e.Step.EndsWith(".cycle", StringComparison.Ordinal)) ? ".cycle" : "ConnectCall";
        foreach (var kind in events.Where(e => e.Step.EndsWith(anchors, StringComparison.Ordinal)).Select(e => e.Step).Distinct().Order(StringComparer.Ordinal))
        {
            PrintKind(events, kind, anchors, warmup);
        }
        Console.WriteLine("threads: " + string.Join(", ", threads.Select(t => $"{t.Value} = pid/managed thread {t.Key}")));
        var sleeps = Path.Combine(directory, "sleeps.txt");
        if (File.Exists(sleeps))
        {
            Console.WriteLine("sleeps (voluntary context switches) per cycle, per thread (tid name):");
            foreach (var line in File.ReadLines(sleeps))
            {
                Console.WriteLine("  " + line);
            }
        }
    }

    private static void PrintKind(List<(long Ns, string Thread, string Step)> events, string kind, string anchors, int warmup)
    {
        // A cycle runs from one anchor to the next anchor of any kind (blocks alternate; the last cycle of a block ends at the next block's first).
        var offsets = new Dictionary<string, List<double>>();
        var gaps = new Dictionary<string, List<double>>();
        var cycles = 0;
        var seen = -1;
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i].Step != kind)
            {
                continue;
            }
            seen++;
            if (seen < warmup)
            {
                continue;
            }
            cycles++;
            var occurrences = new Dictionary<string, int>();
            var previous = events[i].Ns;
            for (var j = i + 1; j < events.Count && !events[j].Step.EndsWith(anchors, StringComparison.Ordinal); j++)
            {
                var label = events[j].Step + " @" + events[j].Thread;
                var n = occurrences[label] = occurrences.GetValueOrDefault(label) + 1;
                if (n > 1)
                {
                    label += " #" + n.ToString(CultureInfo.InvariantCulture);
                }
                (offsets.TryGetValue(label, out var list) ? list : offsets[label] = []).Add((events[j].Ns - events[i].Ns) / 1000.0);
                (gaps.TryGetValue(label, out var gapList) ? gapList : gaps[label] = []).Add((events[j].Ns - previous) / 1000.0);
                previous = events[j].Ns;
            }
        }
        if (cycles == 0)
        {
            return;
        }
        PrintSampleCycles(events, kind, anchors, warmup);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"== {kind}: {cycles} cycles after {warmup} warm-up; µs from the cycle's start (median, p90) and median gap from the step before"));
        foreach (var (label, list) in offsets.Where(o => o.Value.Count >= cycles / 10).OrderBy(o => Median(o.Value)))
        {
            list.Sort();
            gaps[label].Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {Median(list),8:0.0} {list[(int)(0.9 * (list.Count - 1))],8:0.0}  +{Median(gaps[label]),6:0.0}  {100.0 * list.Count / cycles,5:0}%  {label}"));
        }
    }

    /// <summary>Prints whole cycles, every step in order, at the 25th, 50th and 75th percentile of the cycle's length (medians of steps that do not always occur together do not add up; one real cycle does).</summary>
    private static void PrintSampleCycles(List<(long Ns, string Thread, string Step)> events, string kind, string anchors, int warmup)
    {
        var starts = new List<int>();
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i].Step == kind)
            {
                starts.Add(i);
            }
        }
        var cycles = new List<(int Start, int End, long Length)>();
        for (var k = warmup; k < starts.Count - 1; k++)
        {
            var end = starts[k] + 1;
            while (end < events.Count && !events[end].Step.EndsWith(anchors, StringComparison.Ordinal))
            {
                end++;
            }
            // The cycle's own end: its client's last step (cli.closed or CloseEnd on the connector's side) before the next anchor.
            var last = end - 1;
            for (var j = end - 1; j > starts[k]; j--)
            {
                if (events[j].Step is "cli.closed" or "CloseEnd:side1" && events[j].Thread == events[starts[k]].Thread)
                {
                    last = j;
                    break;
                }
            }
            cycles.Add((starts[k], end, events[last].Ns - events[starts[k]].Ns));
        }
        if (cycles.Count == 0)
        {
            return;
        }
        cycles.Sort((a, b) => a.Length.CompareTo(b.Length));
        foreach (var q in (double[])[0.25, 0.5, 0.75])
        {
            var (start, end, length) = cycles[(int)(q * (cycles.Count - 1))];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"-- {kind}: the cycle at p{q * 100:0} of the cycle length ({length / 1000.0:0.0} µs): µs from its start, + gap from the step before"));
            for (var j = start; j < end; j++)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {(events[j].Ns - events[start].Ns) / 1000.0,8:0.0}  +{(j == start ? 0 : events[j].Ns - events[j - 1].Ns) / 1000.0,6:0.0}  {events[j].Thread}  {events[j].Step}"));
            }
        }
    }

    private static double Median(List<double> sorted)
    {
        var copy = sorted.ToArray();
        Array.Sort(copy);
        return copy[copy.Length / 2];
    }
}
