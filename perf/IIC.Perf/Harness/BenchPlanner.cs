using IIC.Perf.Cli;
using IIC.Perf.Core;
using IIC.Perf.Isolation;
using IIC.Perf.Results;
using IIC.Perf.Scale;

namespace IIC.Perf.Harness;

/// <summary>
/// Expands the options into the list of measurements, in table order (test, size, transport, mode, API). A
/// transport that cannot run here becomes a row that says why, so it never silently vanishes.
/// </summary>
internal static class BenchPlanner
{
    /// <summary>Each item is a measurement between two processes, one the parent makes itself, or an already-final row.</summary>
    public static List<PlannedItem> Expand(BenchOptions options, IReadOnlyList<IBenchTransport> transports)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transports);
        var availability = transports.ToDictionary(transport => transport, transport => transport.Unavailable());
        var items = new List<PlannedItem>();
        foreach (var test in options.Tests)
        {
            switch (test)
            {
                case BenchTest.PingPong or BenchTest.Throughput or BenchTest.IdleGap:
                    ExpandClassic(options, transports, availability, test, items);
                    break;
                case BenchTest.Sizes:
                    ExpandSizes(options, transports, availability, items);
                    break;
                case BenchTest.Channels:
                    ExpandChannels(options, transports, availability, items);
                    break;
                case BenchTest.FanIn:
                    for (var i = 0; i < options.FanInSenders.Count; i++)
                    {
                        var senders = options.FanInSenders[i];
                        var last = i == options.FanInSenders.Count - 1; // its senders are ended, not kept for a next row
                        var durationS = options.ScaleRowDurationS;
                        items.Add(PlannedItem.Local($"fanin iic {senders} sender(s)", () => FanInBench.Run(senders, durationS, options.WarmupS, last), durationS));
                    }
                    break;
                case BenchTest.Connect:
                    foreach (var kind in ConnectBench.Kinds.Where(kind => options.Transports is null || options.Transports.Contains(kind, StringComparer.OrdinalIgnoreCase)))
                    {
                        var durationS = options.ScaleRowDurationS;
                        items.Add(PlannedItem.Local($"connect {kind}", () => ConnectBench.Run(kind, durationS, options.WarmupS), durationS));
                    }
                    break;
            }
        }
        return items;
    }

    private static void ExpandClassic(BenchOptions options, IReadOnlyList<IBenchTransport> transports, Dictionary<IBenchTransport, string?> availability, BenchTest test, List<PlannedItem> items)
    {
        var sizes = test == BenchTest.IdleGap && !options.SizesGiven ? [options.Sizes.Min()] : options.Sizes;
        var driver = new DriverSettings(
            options.WarmupS,
            options.DurationFor(test),
            options.Count,
            test == BenchTest.IdleGap ? BenchOptions.GapMinUs : 0,
            test == BenchTest.IdleGap ? BenchOptions.GapMaxUs : 0,
            test == BenchTest.IdleGap ? options.IdleS : 0);
        foreach (var size in sizes.Where(size => size <= LinkOptions.MemcpySize))
        {
            foreach (var transport in transports)
            {
                if (transport is IIsolatedTransport && test == BenchTest.IdleGap)
                {
                    continue; // isolated rows: ping-pong and throughput
                }
                if (availability[transport] is { } reason)
                {
                    items.Add(PlannedItem.Final(ResultRows.Unavailable(test, transport, size, reason)));
                    continue;
                }
                var modes = transport.Modes.Count == 1 ? transport.Modes : transport.Modes.Where(options.Modes.Contains).ToList();
                var apis = test switch
                {
                    BenchTest.Throughput => transport.ReceiveApis.Where(api => api is ReceiveApi.Poll or ReceiveApi.Receive && options.Apis.Contains(api)).ToList(),
                    BenchTest.PingPong => PingPongApis(transport, options),
                    _ => [ReceiveApi.Receive],
                };
                foreach (var mode in modes)
                {
                    foreach (var api in apis)
                    {
                        var plan = new MeasurementPlan(transport, new LinkOptions(test, mode, size, api), driver);
                        if (InterleavedPartner(options, transports, availability, plan) is { } partner)
                        {
                            var pair = (First: plan, Second: partner);
                            var reusedWarmupS = options.WarmupGiven ? (double?)null : BenchCommand.ReusedWarmupS();
                            items.Add(PlannedItem.LocalMany(
                                $"{pair.First} + {pair.Second.Transport.Name}, interleaved",
                                (probe, pin) => test == BenchTest.PingPong
                                    ? InterleavedPingPong.Run(pair.First, pair.Second, probe, pin, reusedWarmupS)
                                    : InterleavedOneWay.Run(pair.First, pair.Second, probe, pin, reusedWarmupS)));
                            continue;
                        }
                        if (IsInterleavedPartner(options, transports, availability, plan))
                        {
                            continue; // measured with its iic row, above
                        }
                        items.Add(PlannedItem.Measure(plan));
                    }
                }
            }
        }
        if (test == BenchTest.Throughput && options.Memcpy)
        {
            var duration = options.DurationFor(BenchTest.Throughput) is > 0 and var d ? d : BenchOptions.DefaultDurationS;
            items.Add(PlannedItem.Local($"memcpy {SizeText.Format(LinkOptions.MemcpySize)}", () => MemcpyBench.Run(BenchTest.Throughput, LinkOptions.MemcpySize, MemcpyWarmupS(options), duration), duration));
        }
    }

    /// <summary>
    /// The memcpy rows' warm-up: they run in this process, which is up and compiled, like a reused child (round 13), so
    /// the reused rows' warm-up (<see cref="BenchOptions.DefaultReusedWarmupS"/>, at least a few copies, see
    /// MemcpyBench) unless --warmup was given; 0.25 s before.
    /// </summary>
    private static double MemcpyWarmupS(BenchOptions options)
        => options.WarmupGiven ? options.WarmupS : Math.Min(options.WarmupS, BenchCommand.ReusedWarmupS());

    /// <summary>The size whose one-way and ping-pong iic and raw-shm rows are measured interleaved (issue 17's 32 B targets).</summary>
    public const int InterleavedOneWaySize = 32;

    /// <summary>
    /// The raw-shm row measured interleaved with <paramref name="plan"/> when it is the 32 B one-way
    /// (Harness/InterleavedOneWay.cs) or ping-pong (Harness/InterleavedPingPong.cs, round 19) iic spin row of an API
    /// raw-shm offers, raw-shm runs too, the test's switch is on, and the run is timed (not --count); otherwise null.
    /// </summary>
    private static MeasurementPlan? InterleavedPartner(BenchOptions options, IReadOnlyList<IBenchTransport> transports, Dictionary<IBenchTransport, string?> availability, MeasurementPlan plan)
    {
        if (plan.Transport.Name != RatioTable.Iic || !IsInterleavable(options, plan))
        {
            return null;
        }
        var raw = transports.FirstOrDefault(t => t.Name == RatioTable.RawShm);
        return raw is null || availability[raw] is not null || !raw.ReceiveApis.Contains(plan.Link.Api) || !raw.Modes.Contains(WaitModes.Spin)
            ? null
            : new MeasurementPlan(raw, plan.Link, plan.Driver);
    }

    /// <summary>Whether <paramref name="plan"/> is the raw-shm row an iic row measures interleaved (so it is not planned on its own).</summary>
    private static bool IsInterleavedPartner(BenchOptions options, IReadOnlyList<IBenchTransport> transports, Dictionary<IBenchTransport, string?> availability, MeasurementPlan plan)
    {
        if (plan.Transport.Name != RatioTable.RawShm || !IsInterleavable(options, plan))
        {
            return false;
        }
        var iic = transports.FirstOrDefault(t => t.Name == RatioTable.Iic);
        return iic is not null && availability[iic] is null && iic.ReceiveApis.Contains(plan.Link.Api) && iic.Modes.Contains(WaitModes.Spin) && options.Modes.Contains(WaitModes.Spin);
    }

    private static bool IsInterleavable(BenchOptions options, MeasurementPlan plan)
        => (plan.Link.Test == BenchTest.Throughput ? InterleavedOneWay.Enabled : plan.Link.Test == BenchTest.PingPong && options.PingPongInterleaved)
            && plan.Link.MessageSize == InterleavedOneWaySize && plan.Link.Mode == WaitModes.Spin
            && options.Count == 0 && plan.Driver.DurationS > 0;

    /// <summary>The largest message size whose sizes rows (iic and raw-shm) are measured interleaved: a tenth of the row's 0.3 s still holds hundreds of 1 MiB messages, not of 16 MiB ones.</summary>
    public const int InterleavedSizesUpTo = 1 << 20;

    /// <summary>
    /// The sizes test's iic and raw-shm rows of one size, to be measured interleaved (round 16): both rings are bimodal
    /// at 4 KiB and up on one placement (perf/results/round16/sizes), so a ratio between two rows measured one after
    /// the other was drawn, not measured; interleaved rounds give the target a median with its interval. Null when
    /// either row is missing or not spinning, the size is above <see cref="InterleavedSizesUpTo"/>, or the run is not timed.
    /// </summary>
    private static (MeasurementPlan First, MeasurementPlan Second)? InterleavedSizePair(BenchOptions options, List<MeasurementPlan> plans)
    {
        var iic = plans.FirstOrDefault(p => p.Transport.Name == RatioTable.Iic);
        var raw = plans.FirstOrDefault(p => p.Transport.Name == RatioTable.RawShm);
        return InterleavedOneWay.Enabled && iic is not null && raw is not null && iic.Link.Mode == WaitModes.Spin && raw.Link.Mode == WaitModes.Spin
            && iic.Link.MessageSize <= InterleavedSizesUpTo && options.Count == 0 && iic.Driver.DurationS > 0
            ? (iic, raw)
            : null;
    }

    /// <summary>Bandwidth delivered against message size: iic and raw-shm polling in place (zero copy out), and memcpy.</summary>
    private static void ExpandSizes(BenchOptions options, IReadOnlyList<IBenchTransport> transports, Dictionary<IBenchTransport, string?> availability, List<PlannedItem> items)
    {
        var driver = new DriverSettings(options.WarmupS, options.ScaleRowDurationS, 0, 0, 0, 0);
        foreach (var size in options.SizesGiven ? options.Sizes : options.ScaleSizes)
        {
            var plans = new List<MeasurementPlan>();
            foreach (var transport in transports.Where(t => t.Name is "iic" or "raw-shm"))
            {
                if (availability[transport] is { } reason)
                {
                    items.Add(PlannedItem.Final(ResultRows.Unavailable(BenchTest.Sizes, transport, size, reason)));
                    continue;
                }
                var mode = transport.Modes.Count == 1 ? transport.Modes[0] : options.Modes.FirstOrDefault(transport.Modes.Contains) ?? transport.Modes[0];
                plans.Add(new MeasurementPlan(transport, new LinkOptions(BenchTest.Sizes, mode, size, ReceiveApi.Poll), driver));
            }
            if (InterleavedSizePair(options, plans) is { } pair)
            {
                var reusedWarmupS = options.WarmupGiven ? (double?)null : BenchCommand.ReusedWarmupS();
                items.Add(PlannedItem.LocalMany(
                    $"{pair.First} + {pair.Second.Transport.Name}, interleaved",
                    (probe, pin) => InterleavedOneWay.Run(pair.First, pair.Second, probe, pin, reusedWarmupS)));
            }
            else
            {
                items.AddRange(plans.Select(PlannedItem.Measure));
            }
            var memcpyS = options.ScaleRowDurationS;
            items.Add(PlannedItem.Local($"sizes memcpy {SizeText.Format(size)}", () => MemcpyBench.Run(BenchTest.Sizes, size, MemcpyWarmupS(options), memcpyS), memcpyS));
        }
    }

    /// <summary>
    /// Wake-up latency and idle CPU against open idle channels: one item that measures every N in interleaved rounds
    /// between placement probes (Scale/ChannelsBench.cs) and returns a row per N.
    /// </summary>
    private static void ExpandChannels(BenchOptions options, IReadOnlyList<IBenchTransport> transports, Dictionary<IBenchTransport, string?> availability, List<PlannedItem> items)
    {
        var transport = transports.FirstOrDefault(t => t.Name == "iic");
        if (transport is null)
        {
            return;
        }
        var size = options.Sizes.Min();
        if (availability[transport] is { } reason)
        {
            items.Add(PlannedItem.Final(ResultRows.Unavailable(BenchTest.Channels, transport, size, reason)));
            return;
        }
        var settings = new ChannelsSettings(options.ChannelCounts, options.ChannelRounds, options.ChannelBlockS, options.WarmupS, options.ScaleIdleS, size, options.ChannelsSpread);
        items.Add(PlannedItem.LocalMany(
            $"channels iic x{string.Join(',', options.ChannelCounts)}, {options.ChannelRounds} rounds",
            (probe, pin) => ChannelsBench.Run(settings, transport, probe, pin)));
    }

    /// <summary>
    /// The echo APIs a ping-pong row runs: receive (every transport has it), poll-claim and send-and-receive (round 25), as
    /// far as --api asks for them. `--api poll` alone names none (poll is a one-way API), so ping-pong then measures
    /// receive as it always did.
    /// </summary>
    private static List<ReceiveApi> PingPongApis(IBenchTransport transport, BenchOptions options)
    {
        var apis = transport.ReceiveApis.Where(api => api is ReceiveApi.Receive or ReceiveApi.PollClaim or ReceiveApi.SendAndReceive && options.Apis.Contains(api)).ToList();
        return apis.Count == 0 ? [ReceiveApi.Receive] : apis;
    }
}

/// <summary>One item of the run: exactly one of a two-process measurement, a measurement the parent makes itself, or a final row.</summary>
/// <param name="LocalDurationS">The seconds a measurement the parent makes itself measures, when the planner decides it (fan-in, connect, memcpy).</param>
internal sealed record PlannedItem(string Label, MeasurementPlan? Plan, Func<BenchResult>? LocalRun, BenchResult? Row, Func<PlacementProbe?, bool, IReadOnlyList<BenchResult>>? LocalRows = null, double? LocalDurationS = null)
{
    /// <summary>A measurement the parent makes itself that yields several rows and takes its own placement probes (given the run's probe and --pin).</summary>
    public static PlannedItem LocalMany(string label, Func<PlacementProbe?, bool, IReadOnlyList<BenchResult>> run) => new(label, null, null, null, run);

    public static PlannedItem Measure(MeasurementPlan plan) => new(plan.ToString(), plan, null, null);

    public static PlannedItem Local(string label, Func<BenchResult> run, double? durationS = null) => new(label, null, run, null, null, durationS);

    public static PlannedItem Final(BenchResult row) => new($"{row.Test} {row.Transport} {SizeText.Format(row.Size)}", null, null, row);
}
