using System.Collections.Concurrent;
using System.Globalization;
using IIC.Hardware;

namespace IIC.TestHost;

/// <summary>Connectors for the accept-queue tests (tests/IIC.Reliability.Tests/AcceptQueueTests.cs).</summary>
internal static class AcceptQueueScenarios
{
    /// <summary>
    /// args: hypervisor socketDir partition service threads perThread timeoutSeconds. Attaches and prints "attached",
    /// then starts THREADS threads at once, each connecting PERTHREAD times in a row (timeout TIMEOUTSECONDS each,
    /// holding what it got); prints "done OK FAILED", then one line "error CODE MESSAGE" per distinct error code
    /// (the first message seen for it), then "end"; holds its connections until stdin closes.
    /// </summary>
    [Scenario("aq-connect")]
    private static int Connect(string[] args)
    {
        var threadCount = int.Parse(args[4], CultureInfo.InvariantCulture);
        var perThread = int.Parse(args[5], CultureInfo.InvariantCulture);
        var timeout = TimeSpan.FromSeconds(int.Parse(args[6], CultureInfo.InvariantCulture));
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        Console.WriteLine("attached");
        var held = new ConcurrentBag<GrantedConnection>();
        var errors = new ConcurrentDictionary<string, string>();
        var failed = 0;
        using var start = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, threadCount).Select(_ => new Thread(() =>
        {
            start.Wait();
            for (var i = 0; i < perThread; i++)
            {
                try
                {
                    held.Add(partition.Connect(args[3], DescriptorRing.MinCapacity, timeout));
                }
                catch (HypervisorException e)
                {
                    Interlocked.Increment(ref failed);
                    errors.TryAdd(e.Error?.ToString() ?? "none", e.Message.ReplaceLineEndings(" "));
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        start.Set(); // every thread connects at once: a burst
        threads.ForEach(t => t.Join());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done {held.Count} {failed}"));
        foreach (var (code, message) in errors)
        {
            Console.WriteLine($"error {code} {message}");
        }
        Console.WriteLine("end");
        Console.In.ReadToEnd();
        foreach (var connection in held)
        {
            connection.Dispose();
        }
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir partition service backlog. Listens with that backlog and prints "listening"; its
    /// reader thread keeps draining the control socket, but the application accepts only when told, one stdin line at
    /// a time: "accept N" accepts N connections (holding them) and prints "accepted N"; "dispose" disposes the listener
    /// with whatever is still queued and prints "disposed". Exits when stdin closes.
    /// </summary>
    [Scenario("aq-backlog-listener")]
    private static int BacklogListener(string[] args)
    {
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        var listener = partition.Listen(args[3], backlog: int.Parse(args[4], CultureInfo.InvariantCulture));
        Console.WriteLine("listening");
        var held = new List<GrantedConnection>();
        while (Console.ReadLine() is { } line)
        {
            if (line.StartsWith("accept ", StringComparison.Ordinal))
            {
                var count = int.Parse(line.AsSpan(7), CultureInfo.InvariantCulture);
                for (var i = 0; i < count; i++)
                {
                    held.Add(listener.Accept(TimeSpan.FromSeconds(60)));
                }
                Console.WriteLine($"accepted {count}");
            }
            else if (line == "dispose")
            {
                listener.Dispose();
                Console.WriteLine("disposed");
            }
        }
        listener.Dispose();
        held.ForEach(c => c.Dispose());
        return 0;
    }
}
