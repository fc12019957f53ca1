using System.Diagnostics;
using System.Globalization;
using IIC.Hardware;
using IIC.Native;
using IIC.Transport;

namespace IIC.TestHost;

/// <summary>
/// Children for the group-page isolation tests (issue 12 point 6, tests/IIC.Reliability.Tests/GroupIsolationTests.cs):
/// an honest sender that stamps and checksums every message, and a hostile peer that scribbles everything it was
/// granted (the victim's group page for it, and its window), before and after the victim let go of it.
/// </summary>
internal static unsafe class GroupIsolationScenarios
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// args: hypervisor socketDir service count intervalMicroseconds. Connects (ungrouped on its side), prints
    /// "connected", waits for "go", sends <c>count</c> stamped messages paced <c>interval</c> apart, prints "sent",
    /// and waits for stdin to close.
    /// </summary>
    [Scenario("gi-honest")]
    private static int Honest(string[] args)
    {
        var count = int.Parse(args[3], CultureInfo.InvariantCulture);
        var interval = (long)(double.Parse(args[4], CultureInfo.InvariantCulture) * Stopwatch.Frequency / 1_000_000);
        using var partition = Partition.Attach(args[0], "honest-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        using var channel = IicChannel.Connect(partition, args[2], new ChannelOptions { RingCapacity = 1 << 16 }, s_timeout);
        Console.WriteLine("connected");
        if (Console.ReadLine() != "go")
        {
            return 1;
        }
        Span<byte> message = stackalloc byte[StampedMessage.Size];
        var next = Stopwatch.GetTimestamp();
        for (var sequence = 0; sequence < count; sequence++)
        {
            while (Stopwatch.GetTimestamp() < next)
            {
                Thread.Yield();
            }
            next += interval;
            StampedMessage.Write(message, sequence, Stopwatch.GetTimestamp());
            channel.Send(message);
        }
        Console.WriteLine("sent");
        Console.In.ReadToEnd();
        return 0;
    }

    /// <summary>
    /// args: hypervisor socketDir service. Connects (ungrouped on its side: it gets the victim's group page for it),
    /// prints "connected", then obeys stdin: "scribble page" or "scribble all" starts scribbling the page (and the
    /// window) on a thread until "stop", which prints "rounds N". It never releases its grant, so its mappings stay.
    /// </summary>
    [Scenario("gi-hostile")]
    private static int Hostile(string[] args)
    {
        using var partition = Partition.Attach(args[0], "hostile-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), args[1]);
        var connection = partition.Connect(args[2], 1 << 16, s_timeout);
        var window = connection.Window;
        using var windowLease = window.Lease();
        var page = window.GetInterruptPage(1 - connection.Side); // the victim's page for us
        var pageBase = (byte*)page.SequenceWord - InterruptPage.SeqOffset;
        Console.WriteLine("connected");
        Thread? scribbler = null;
        var stop = 0;
        long rounds = 0;
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            if (line.StartsWith("scribble", StringComparison.Ordinal))
            {
                var all = line == "scribble all";
                var windowBase = windowLease.Base;
                var windowSize = window.Size;
                scribbler = new Thread(() =>
                {
                    var random = new Random(Environment.ProcessId);
                    while (Volatile.Read(ref stop) == 0)
                    {
                        ScribblePage(pageBase, random);
                        if (all && (rounds & 15) == 0)
                        {
                            for (var i = 0; i < 64; i++)
                            {
                                *(long*)(windowBase + (random.NextInt64(windowSize) & ~7L)) = random.NextInt64();
                            }
                        }
                        Interlocked.Increment(ref rounds);
                    }
                }) { IsBackground = true };
                scribbler.Start();
                Console.WriteLine("scribbling");
            }
            else if (line == "stop")
            {
                Volatile.Write(ref stop, 1);
                scribbler?.Join();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rounds {Interlocked.Read(ref rounds)}"));
            }
        }
        GC.KeepAlive(connection);
        return 0;
    }

    /// <summary>One round over the victim's group page: every word a sender may touch and random offsets everywhere else.</summary>
    private static void ScribblePage(byte* page, Random random)
    {
        const int pageSize = 4096;
        var pending = (long*)(page + InterruptPage.PendingOffset);
        switch (random.Next(6))
        {
            case 0: // raise everything, properly (pending, summary, then the wake)
                for (var w = 0; w < 64; w++)
                {
                    Interlocked.Exchange(ref pending[w], -1L);
                }
                Interlocked.Exchange(ref *(long*)(page + InterruptPage.SummaryOffset), -1L);
                Interlocked.Increment(ref *(int*)(page + InterruptPage.SeqOffset));
                Futex.Wake((int*)(page + InterruptPage.SeqOffset), int.MaxValue);
                break;
            case 1: // clear what others would have raised, and the sleep announcement
                Interlocked.Exchange(ref *(long*)(page + InterruptPage.SummaryOffset), 0);
                Interlocked.Exchange(ref *(int*)(page + InterruptPage.SleepingOffset), 0);
                break;
            case 2: // move the futex word so futex_waitv returns at once
                Interlocked.Add(ref *(int*)(page + InterruptPage.SeqOffset), random.Next());
                break;
            case 3: // a summary pointing at nothing
                Interlocked.Exchange(ref *(long*)(page + InterruptPage.SummaryOffset), random.NextInt64());
                break;
            case 4: // the timestamp a waker leaves
                Interlocked.Exchange(ref *(long*)(page + InterruptPage.RaisedAtOffset), random.NextInt64());
                break;
            default: // anywhere
                for (var i = 0; i < 8; i++)
                {
                    *(long*)(page + (random.Next(pageSize) & ~7)) = random.NextInt64();
                }
                break;
        }
    }
}
