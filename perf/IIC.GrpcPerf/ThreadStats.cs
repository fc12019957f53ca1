using System.Globalization;
using System.Text;

namespace IIC.GrpcPerf;

/// <summary>
/// <c>--thread-stats</c>: where a unary call's CPU and thread hand-offs go, per thread kind, in both processes. Around the
/// measured unary calls it reads every thread's <c>/proc/PID/task/TID/schedstat</c> (CPU ns, run-queue wait ns) and
/// <c>status</c> (voluntary and involuntary context switches) in the client and the server, and prints per call, summed
/// over the threads of one name (".NET TP Worker", "IIC receive ...", ".NET Sockets", ...). A voluntary switch is a
/// thread going to sleep (futex, epoll): each one on the call's path is a later wake-up, the unit of cost on a VM whose
/// idle vCPUs halt at once.
/// </summary>
internal static class ThreadStats
{
    private static Dictionary<(int Pid, int Tid), Sample>? s_before;
    private static readonly Dictionary<string, SortedDictionary<string, Sample>> s_sums = new(StringComparer.Ordinal);

    /// <summary>Whether <c>--thread-stats</c> was given.</summary>
    public static bool Enabled { get; set; }

    /// <summary>The server process's id (set once it started).</summary>
    public static int ServerPid { get; set; }

    /// <summary>Snapshots both processes' threads before the measured calls.</summary>
    public static void Begin()
    {
        if (Enabled)
        {
            s_before = Snapshot();
        }
    }

    /// <summary>
    /// Adds the difference since <see cref="Begin"/>, per process and thread name, to <paramref name="path"/>'s sums
    /// (interleaved blocks add up; <see cref="Print"/> shows them).
    /// </summary>
    public static void End(string path, int calls)
    {
        if (!Enabled || s_before is null)
        {
            return;
        }
        var after = Snapshot();
        if (!s_sums.TryGetValue(path, out var rows))
        {
            s_sums[path] = rows = new SortedDictionary<string, Sample>(StringComparer.Ordinal);
        }
        foreach (var (key, sample) in after)
        {
            var before = s_before.TryGetValue(key, out var b) ? b : new Sample(sample.Name, 0, 0, 0, 0);
            var name = (key.Pid == Environment.ProcessId ? "client " : "server ") + sample.Name;
            var delta = new Sample(name, sample.CpuNs - before.CpuNs, sample.WaitNs - before.WaitNs, sample.Voluntary - before.Voluntary, sample.Involuntary - before.Involuntary);
            rows[name] = rows.TryGetValue(name, out var sum) ? sum + delta : delta;
        }
        s_before = null;
    }

    /// <summary>A snapshot taken and dropped, so that the first measured block does not count this code's own first run (JIT, page faults).</summary>
    public static void Warm()
    {
        if (Enabled)
        {
            _ = Snapshot();
        }
    }

    /// <summary>Prints <paramref name="path"/>'s sums per call over <paramref name="calls"/> calls, and forgets them.</summary>
    public static void Print(string path, int calls) => Print(path, "unary", calls);

    /// <summary>
    /// Prints <paramref name="path"/>'s sums per call of <paramref name="test"/> over <paramref name="calls"/> calls, and
    /// forgets them. For <c>unary-idle</c> each call's idle gap is in the sums too: the thread that sleeps through the gap
    /// (<c>Thread.Sleep</c>) shows one voluntary switch per call that is the harness's, not the call's.
    /// </summary>
    public static void Print(string path, string test, int calls)
    {
        if (!Enabled || !s_sums.Remove(path, out var rows))
        {
            return;
        }
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{path} {test}, per call over {calls} calls (threads of one name summed): CPU µs / run-queue wait µs / voluntary switches (sleeps) / involuntary switches");
        var total = new Sample("total", 0, 0, 0, 0);
        foreach (var row in rows.Values)
        {
            if (row.CpuNs == 0 && row.Voluntary == 0 && row.Involuntary == 0)
            {
                continue;
            }
            total += row;
            text.AppendLine(row.Describe(calls));
        }
        text.AppendLine(total.Describe(calls));
        Console.Error.Write(text.ToString());
    }

    private static Dictionary<(int Pid, int Tid), Sample> Snapshot()
    {
        var samples = new Dictionary<(int Pid, int Tid), Sample>();
        foreach (var pid in new[] { Environment.ProcessId, ServerPid })
        {
            string[] tasks;
            try
            {
                tasks = Directory.GetDirectories($"/proc/{pid}/task");
            }
            catch (DirectoryNotFoundException)
            {
                continue;
            }
            foreach (var task in tasks)
            {
                try
                {
                    var tid = int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
                    var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                    var schedstat = File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ');
                    long voluntary = 0, involuntary = 0;
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            voluntary = long.Parse(line.AsSpan("voluntary_ctxt_switches:".Length).Trim(), CultureInfo.InvariantCulture);
                        }
                        else if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            involuntary = long.Parse(line.AsSpan("nonvoluntary_ctxt_switches:".Length).Trim(), CultureInfo.InvariantCulture);
                        }
                    }
                    samples[(pid, tid)] = new Sample(name, long.Parse(schedstat[0], CultureInfo.InvariantCulture), long.Parse(schedstat[1], CultureInfo.InvariantCulture), voluntary, involuntary);
                }
                catch (IOException)
                {
                    // the thread exited meanwhile
                }
            }
        }
        return samples;
    }

    private readonly record struct Sample(string Name, long CpuNs, long WaitNs, long Voluntary, long Involuntary)
    {
        public static Sample operator +(Sample a, Sample b) => new(a.Name, a.CpuNs + b.CpuNs, a.WaitNs + b.WaitNs, a.Voluntary + b.Voluntary, a.Involuntary + b.Involuntary);

        public string Describe(int calls) => string.Create(CultureInfo.InvariantCulture,
            $"  {Name,-30} {CpuNs / 1e3 / calls,8:0.0} {WaitNs / 1e3 / calls,8:0.0} {Voluntary / (double)calls,6:0.00} {Involuntary / (double)calls,6:0.00}");
    }
}
