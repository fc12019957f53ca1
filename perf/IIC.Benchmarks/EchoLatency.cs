using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Benchmarks;

/// <summary>
/// A two-thread, one-process 32 B echo with a timestamp per round trip, for paired A/B runs of the raw path on a
/// shared box (where only the low percentiles, when both threads ran at once, are the machine's):
/// <c>dotnet run -c Release --project perf/IIC.Benchmarks -- --echo VARIANT [runs] [trips]</c>. Variants:
/// <c>probe</c> (one cache line each way: the floor), <c>ring</c> (RingWriter + Doorbell / RingReader, no endpoint,
/// returning space as the endpoint does; <c>ring-eager</c> clears and returns each record as it is consumed, as before
/// round 6; <c>ring-lazy</c> only every 64 records; <c>ring-4k</c> as <c>ring</c> in a 4 KiB ring, whose lines stay in L1), <c>endpoint</c> (WindowEndpoint
/// Send / TryReceive: the channel without its role gates),
/// <c>receive</c> / <c>receive-single</c> (IicChannel Send / TryReceive with a timeout, as perf's ping-pong rows;
/// single = SingleWriter/SingleReader), <c>claim</c> / <c>claim-single</c> (Poll, then TryClaim + Commit: zero copy
/// both ways; <c>claim-wait</c> / <c>claim-wait-single</c> poll with a timeout, as perf/IIC.Perf's rows do; <c>claim-wait-apart</c> / <c>receive-apart</c> open each side on the thread that
/// uses it instead of CreatePair's one thread, so the two threads' objects are not allocated side by side). Set IIC_ASYMMETRIC_FENCE=0 for the fenced publish, or add <c>ab</c> after the variant to alternate
/// fenced (A) and asymmetric (B) runs in this process, or <c>ab-holdback</c> to alternate readers that return every
/// record at once (A) with readers that hold the last ones back until they find the ring empty (B), <c>ab-spinfirst</c> to alternate waits that
/// read the clock first (A) with waits that spin clock-free first (B), or <c>ab-lookahead</c>
/// to alternate readers that look at the next header after each consume (A, round 6) with readers that do not (B). After
/// [runs] [trips] an optional warm-up count (default 40 000 round trips, past the first lap's page faults; 0 = none). Every run is bracketed by a 20 k-trip probe, since the host
/// moves the two vCPUs between near and far placements within seconds: compare runs whose probes agree.
/// Prints p10/p25/p50/p99/p99.9 in ns per run.
/// </summary>
internal static unsafe class EchoLatency
{
    private const int Size = 32;

    public static int Run(string[] args)
    {
        var variant = args.Length > 1 ? args[1] : "receive";
        var alternate = args.Length > 2 && args[2] is "ab" or "ab-holdback" or "ab-lookahead" or "ab-spinfirst";
        var holdBack = args.Length > 2 && args[2] == "ab-holdback";
        var lookAhead = args.Length > 2 && args[2] == "ab-lookahead";
        var spinFirst = args.Length > 2 && args[2] == "ab-spinfirst";
        var rest = alternate ? 3 : 2;
        var runs = args.Length > rest ? int.Parse(args[rest], CultureInfo.InvariantCulture) : 12;
        var trips = args.Length > rest + 1 ? int.Parse(args[rest + 1], CultureInfo.InvariantCulture) : 100_000;
        // Round trips before the measured ones: a fresh window's first lap takes a page fault per 4 KiB page and side
        // (16 384 records of 64 B per 1 MiB lap), which is the p99.9 of an unwarmed 100 k-trip run. 0 = none (as before round 7).
        var warmup = args.Length > rest + 2 ? int.Parse(args[rest + 2], CultureInfo.InvariantCulture) : 40_000;
        Console.WriteLine($"variant={variant} asymmetric={IIC.Native.Membarrier.IsAvailable} alternate={alternate} runs={runs} trips={trips} warmup={warmup}");
        var samples = new long[warmup + trips];
        var probe = new long[20_000];
        for (var run = 0; run < runs; run++)
        {
            var mode = !alternate ? (IIC.Native.Membarrier.IsAvailable ? "B" : "A") : (run % 2 == 0 ? "A" : "B");
            if (holdBack)
            {
                DescriptorRing.HoldBackEnabled = mode == "B";
            }
            else if (spinFirst)
            {
                WindowEndpoint.SpinBeforeClockEnabled = mode == "B"; // A: the deadline's clock read first; B: a clock-free spin first
            }
            else if (lookAhead)
            {
                DescriptorRing.LookAheadEnabled = mode == "A"; // A: the round-6 look at the next header; B: none
            }
            else
            {
                DescriptorRing.AsymmetricFenceEnabled = mode == "B";
            }
            Probe(probe);
            Array.Sort(probe);
            var before = Ns(probe[probe.Length / 2]);
            switch (variant)
            {
                case "probe": Probe(samples); break;
                case "ring": Ring(samples, RingRead.AsEndpoint); break;
                case "ring-eager": Ring(samples, RingRead.Eager); break;
                case "ring-lazy": Ring(samples, RingRead.Lazy); break;
                case "ring-4k": Ring(samples, RingRead.AsEndpoint, 4096); break;
                case "receive": Channel(samples, single: false, claim: false); break;
                case "receive-single": Channel(samples, single: true, claim: false); break;
                case "claim": Channel(samples, single: false, claim: true); break;
                case "endpoint": Endpoint(samples); break;
                case "claim-single": Channel(samples, single: true, claim: true); break;
                case "claim-wait": Channel(samples, single: false, claim: true, wait: true); break;
                case "claim-wait-single": Channel(samples, single: true, claim: true, wait: true); break;
                case "claim-wait-apart": Channel(samples, single: false, claim: true, wait: true, apart: true); break;
                case "receive-apart": Channel(samples, single: false, claim: false, apart: true); break;
                default: Console.Error.WriteLine("unknown variant " + variant); return 2;
            }
            Probe(probe);
            Array.Sort(probe);
            var after = Ns(probe[probe.Length / 2]);
            Array.Sort(samples, warmup, trips);
            double P(double q) => Ns(samples[warmup + Math.Min(trips - 1, (int)(q * trips))]);
            // The mean of the fastest 99 %: the clock ticks in ~10 ns steps here, and averaging many jittered samples
            // resolves differences of a few ns that the percentiles (each one tick) cannot show.
            double sum = 0;
            var kept = Math.Max(1, trips * 99 / 100);
            for (var i = 0; i < kept; i++)
            {
                sum += samples[warmup + i];
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run,2} {mode} probe {before,4:F0}/{after,4:F0}: p10 {P(0.10),6:F0} p25 {P(0.25),6:F0} p50 {P(0.50),6:F0} p99 {P(0.99),7:F0} p99.9 {P(0.999),8:F0} mean<p99 {sum / kept * 1e9 / Stopwatch.Frequency,6:F1} ns"));
        }
        DescriptorRing.AsymmetricFenceEnabled = true;
        DescriptorRing.HoldBackEnabled = true;
        DescriptorRing.LookAheadEnabled = false;
        WindowEndpoint.SpinBeforeClockEnabled = true;
        return 0;
    }

    private static double Ns(long ticks) => ticks * 1e9 / Stopwatch.Frequency;

    /// <summary>One line each way: the client writes a sequence number, the server copies it to the other line.</summary>
    private static void Probe(long[] samples)
    {
        var memory = (long*)NativeMemory.AlignedAlloc(256, 128);
        try
        {
            memory[0] = memory[16] = 0;
            long* ping = memory, pong = memory + 16;
            var count = samples.Length;
            var server = new Thread(() =>
            {
                for (long i = 1; i <= count; i++)
                {
                    while (Volatile.Read(ref *ping) != i)
                    {
                    }
                    Volatile.Write(ref *pong, i);
                }
            });
            server.Start();
            for (long i = 1; i <= count; i++)
            {
                var start = Stopwatch.GetTimestamp();
                Volatile.Write(ref *ping, i);
                while (Volatile.Read(ref *pong) != i)
                {
                }
                samples[i - 1] = Stopwatch.GetTimestamp() - start;
            }
            server.Join();
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    /// <summary>How the ring variants return consumed space.</summary>
    private enum RingRead
    {
        /// <summary>As the endpoint: ConsumeLazily, and the held-back rest when the reader finds the ring empty.</summary>
        AsEndpoint,

        /// <summary>Clear and publish at every record (before: the space came back as the record was consumed).</summary>
        Eager,

        /// <summary>Only every 64 records (what the per-message clear and head store cost at all).</summary>
        Lazy,
    }

    private static void Ring(long[] samples, RingRead mode, int capacity = 1 << 20)
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(capacity));
        var toServer = window.GetRing(0);
        var toClient = window.GetRing(1);
        var count = samples.Length;
        var server = new Thread(() =>
        {
            var reader = toServer.CreateReader();
            var writer = toClient.CreateWriter();
            var doorbell = new Doorbell(writer, window.GetInterruptPage(0), window.GetVector(0));
            Span<byte> buffer = stackalloc byte[Size];
            for (var i = 0; i < count; i++)
            {
                ReadOne(reader, buffer, mode);
                while (!writer.TryWrite(buffer, (int)RecordFraming.Unfragmented))
                {
                }
                doorbell.Ring();
            }
        });
        var clientReader = toClient.CreateReader();
        var clientWriter = toServer.CreateWriter();
        var clientDoorbell = new Doorbell(clientWriter, window.GetInterruptPage(1), window.GetVector(1));
        server.Start();
        Span<byte> message = stackalloc byte[Size];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            while (!clientWriter.TryWrite(message, (int)RecordFraming.Unfragmented))
            {
            }
            clientDoorbell.Ring();
            ReadOne(clientReader, message, mode);
            samples[i] = Stopwatch.GetTimestamp() - start;
        }
        server.Join();

        static void ReadOne(RingReader reader, Span<byte> buffer, RingRead mode)
        {
            ReadOnlySpan<byte> payload;
            if (mode == RingRead.AsEndpoint && !reader.TryPeek(out _, out payload))
            {
                reader.PublishHeadIfStale(); // found empty: return the held-back space now, off the critical path
            }
            while (!reader.TryPeek(out _, out payload))
            {
            }
            payload.CopyTo(buffer);
            switch (mode)
            {
                case RingRead.Eager:
                    reader.Consume(publish: true);
                    break;
                case RingRead.Lazy:
                    reader.Consume(publish: false);
                    if ((reader.Position & 4095) == 0)
                    {
                        reader.PublishHead();
                    }
                    break;
                default:
                    reader.ConsumeLazily();
                    break;
            }
        }
    }

    /// <summary>The channel's engine without IicChannel's role gates: WindowEndpoint.Send / TryReceive.</summary>
    private static void Endpoint(long[] samples)
    {
        var (client, server) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin });
        using (client)
        using (server)
        {
            var count = samples.Length;
            var echo = new Thread(() =>
            {
                Span<byte> buffer = stackalloc byte[Size];
                for (var i = 0; i < count; i++)
                {
                    server.Endpoint.TryReceive(buffer, out _, long.MaxValue);
                    server.Endpoint.Send(buffer, long.MaxValue);
                }
            });
            echo.Start();
            Span<byte> message = stackalloc byte[Size];
            for (var i = 0; i < count; i++)
            {
                var start = Stopwatch.GetTimestamp();
                client.Endpoint.Send(message, long.MaxValue);
                client.Endpoint.TryReceive(message, out _, long.MaxValue);
                samples[i] = Stopwatch.GetTimestamp() - start;
            }
            echo.Join();
        }
    }

    private static void Channel(long[] samples, bool single, bool claim, bool wait = false, bool apart = false)
    {
        var options = new ChannelOptions { WaitStrategy = WaitStrategy.BusySpin, SingleReader = single, SingleWriter = single };
        IicChannel client, server;
        SharedWindow? window = null;
        if (apart)
        {
            // Each side's objects allocated by the thread that uses them (as in two processes): CreatePair allocates both
            // sides' endpoints, rings ends and waiters back to back on one thread, where the two threads' fields can share lines.
            window = SharedWindow.Create(WindowOptions.WithCapacity(options.RingCapacity));
            client = IicChannel.Open(window, 0, options);
            server = null!;
        }
        else
        {
            (client, server) = IicChannel.CreatePair(options);
        }
        IicChannel? opened1 = server;
        try
        {
            var count = samples.Length;
            using var opened = new ManualResetEventSlim();
            var echo = new Thread(() =>
            {
                if (apart)
                {
                    server = opened1 = IicChannel.Open(window!, 1, options);
                    opened.Set();
                }
                Span<byte> buffer = stackalloc byte[Size];
                for (var i = 0; i < count; i++)
                {
                    if (claim)
                    {
                        PollOne(server, wait);
                        ClaimOne(server);
                    }
                    else
                    {
                        server.TryReceive(buffer, out _, TimeSpan.FromSeconds(30));
                        server.Send(buffer);
                    }
                }
            });
            echo.Start();
            if (apart)
            {
                opened.Wait();
            }
            Span<byte> message = stackalloc byte[Size];
            for (var i = 0; i < count; i++)
            {
                var start = Stopwatch.GetTimestamp();
                if (claim)
                {
                    ClaimOne(client);
                    PollOne(client, wait);
                }
                else
                {
                    client.Send(message);
                    client.TryReceive(message, out _, TimeSpan.FromSeconds(30));
                }
                samples[i] = Stopwatch.GetTimestamp() - start;
            }
            echo.Join();
        }
        finally
        {
            client.Dispose();
            opened1?.Dispose();
            window?.Dispose();
        }

        static void PollOne(IicChannel channel, bool wait)
        {
            var handler = new Touch();
            if (wait)
            {
                // As perf/IIC.Perf's iic endpoint polls: one waiting poll per message.
                while (channel.Poll(ref handler, 1, TimeSpan.FromSeconds(30)) == 0)
                {
                }
                return;
            }
            while (channel.Poll(ref handler, 1) == 0)
            {
            }
        }

        static void ClaimOne(IicChannel channel)
        {
            ChannelClaim claim;
            while (!channel.TryClaim(Size, out claim))
            {
            }
            claim.Span[0] = 1;
            claim.Commit();
        }
    }

    private struct Touch : IMessageHandler
    {
        public int Sum;

        public void OnMessage(ReadOnlySpan<byte> message) => Sum += message[0] + message[^1];
    }
}
