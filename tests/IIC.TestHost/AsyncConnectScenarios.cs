using System.Buffers.Binary;
using System.Globalization;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>A connector for tests/IIC.Hardware.Tests/AsyncConnectTests.cs, in a process of its own so that it may bound its thread pool.</summary>
internal static class AsyncConnectScenarios
{
    /// <summary>
    /// args: hypervisor socketDir partition service count timeoutSeconds. Bounds this process's thread pool to
    /// max(4, CPUs) threads, attaches and prints "attached", then starts COUNT <see cref="IicChannel.ConnectAsync"/>
    /// calls at once (timeout TIMEOUTSECONDS), queues one pool work item (the probe) and waits for it to run for half the
    /// timeout, before any connect can complete: prints "probe ran N" (N connects had completed then) or "probe starved".
    /// Once all connects are done, sends each channel its index, checks the echo and prints "echoed COUNT" (or
    /// "failed MESSAGE"); exits when stdin closes.
    /// </summary>
    [Scenario("ac-bounded-pool-connects")]
    private static int BoundedPoolConnects(string[] args)
    {
        var count = int.Parse(args[4], CultureInfo.InvariantCulture);
        var timeout = TimeSpan.FromSeconds(int.Parse(args[5], CultureInfo.InvariantCulture));
        if (!BoundPool())
        {
            return 3;
        }
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        Console.WriteLine("attached");
        var options = new ChannelOptions { RingCapacity = DescriptorRing.MinCapacity };
        var connects = Enumerable.Range(0, count).Select(_ => IicChannel.ConnectAsync(partition, args[3], options, timeout)).ToArray();
        // Before round 19 each connect held a pool thread until its answer: the probe queued behind them could not run
        // until the connects ended (the test offers the service only after this line).
        Console.WriteLine(Probe(connects, timeout / 2));
        IicChannel[] channels;
        try
        {
            channels = Task.WhenAll(connects).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            Console.WriteLine("failed " + e.Message.ReplaceLineEndings(" "));
            return 4;
        }
        var buffer = new byte[8];
        for (var i = 0; i < channels.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(buffer, i);
            channels[i].Send(buffer);
        }
        for (var i = 0; i < channels.Length; i++)
        {
            if (!channels[i].TryReceive(buffer, out var length, timeout) || length != 8 || BinaryPrimitives.ReadInt64LittleEndian(buffer) != i)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"failed channel {i} did not echo its index"));
                return 5;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"echoed {channels.Length}"));
        Console.In.ReadToEnd();
        foreach (var channel in channels)
        {
            channel.Dispose();
        }
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir count. Bounds this process's thread pool as above and prints "ready"; on the stdin line
    /// "go" (the test has stopped the hypervisor) starts COUNT <see cref="Partition.AttachAsync"/> calls (partitions
    /// "p0"...) and probes the pool for up to 5 s, before the 10 s attach timeout: prints "probe ran N" or "probe
    /// starved"; then, once the hypervisor answered, "attached COUNT" (or "failed MESSAGE"), detaches and exits.
    /// </summary>
    [Scenario("ac-bounded-pool-attaches")]
    private static int BoundedPoolAttaches(string[] args)
    {
        var count = int.Parse(args[2], CultureInfo.InvariantCulture);
        if (!BoundPool())
        {
            return 3;
        }
        Console.WriteLine("ready");
        if (Console.ReadLine() != "go")
        {
            return 2;
        }
        var attaches = Enumerable.Range(0, count).Select(i => Partition.AttachAsync(args[0], "p" + i.ToString(CultureInfo.InvariantCulture), args[1])).ToArray();
        Console.WriteLine(Probe(attaches, TimeSpan.FromSeconds(5)));
        Partition[] partitions;
        try
        {
            partitions = Task.WhenAll(attaches).GetAwaiter().GetResult();
        }
        catch (HypervisorException e)
        {
            Console.WriteLine("failed " + e.Message.ReplaceLineEndings(" "));
            return 4;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"attached {partitions.Count(p => p.IsHypervisorConnected)}"));
        foreach (var partition in partitions)
        {
            partition.Dispose();
        }
        return 0;
    }

    /// <summary>Bounds the thread pool to max(4, CPUs) worker threads (false, with a line saying so, if it cannot).</summary>
    private static bool BoundPool()
    {
        var threads = Math.Max(4, Environment.ProcessorCount);
        if (ThreadPool.SetMaxThreads(threads, threads))
        {
            return true;
        }
        Console.WriteLine($"failed could not bound the pool to {threads} threads");
        return false;
    }

    /// <summary>Queues one pool work item and waits up to <paramref name="wait"/> for it to run: "probe ran N" (N of the tasks had completed then) or "probe starved (...)".</summary>
    private static string Probe(Task[] tasks, TimeSpan wait)
    {
        using var probe = new ManualResetEventSlim();
        ThreadPool.UnsafeQueueUserWorkItem(static ran => ran.Set(), probe, preferLocal: false);
        return probe.Wait(wait)
            ? string.Create(CultureInfo.InvariantCulture, $"probe ran {tasks.Count(t => t.IsCompleted)}")
            : string.Create(CultureInfo.InvariantCulture, $"probe starved ({ThreadPool.ThreadCount} pool threads, {ThreadPool.PendingWorkItemCount} work items queued)");
    }
}
