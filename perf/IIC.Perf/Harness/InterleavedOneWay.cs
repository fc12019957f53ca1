using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// Two one-way rows measured in interleaved same-probe rounds (issue 17: "32 B poll at least 80 % of raw-shm"): iic
/// and raw-shm, one API, each with its own server child and connection, open together. After each side's warm-up
/// the run alternates short blocks, <see cref="Rounds"/> rounds of one block per side (the order flips every round:
/// A B | B A | A B ...), with a placement probe between rounds. A round whose probes (before and after it) disagree
/// is dropped for both sides. Each kept round gives a ratio (first side's rate over the second's, taken blocks apart
/// by tens of milliseconds, where the host flips placements every few seconds); the first row carries them and
/// their median, which <see cref="TargetReport"/> judges with a bootstrap interval. The rows' rates pool the kept
/// blocks (messages over seconds). While one side measures, the other side's receiver sleeps (a Lap tells it how
/// long) instead of spinning on an empty ring beside it; its CPU clock stops meanwhile. Every message is still
/// verified, and the clock of a block stops at the receiver's acknowledgement of the Lap that follows it.
/// <c>IIC_PERF_ONEWAY_INTERLEAVED=0</c> measures the rows one after the other, as before round 13.
/// </summary>
internal static class InterleavedOneWay
{
    /// <summary>Rounds per pair: each side measures <see cref="Rounds"/> blocks of a tenth of the row's duration.</summary>
    public const int Rounds = 10;

    /// <summary>Whether the main job measures the 32 B one-way iic and raw-shm rows interleaved (<c>IIC_PERF_ONEWAY_INTERLEAVED</c> is not 0).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("IIC_PERF_ONEWAY_INTERLEAVED") != "0";

    /// <summary>The pool kind of the second side's server child (the first side rents the plain one).</summary>
    private const string SecondKind = "server 2";

    // A sleeping receiver wakes this long after the other side's blocks should be over: the probe between rounds
    // (a few ms) and timer slack. The client's Resume waits for it (unmeasured).
    private const long WakeMarginUs = 4_000;

    private const double StartupAllowanceS = 30;

    /// <summary>Measures <paramref name="first"/> and <paramref name="second"/> (same test, size, mode and API) interleaved; returns their two rows.</summary>
    public static IReadOnlyList<BenchResult> Run(MeasurementPlan first, MeasurementPlan second, PlacementProbe? probe, bool pin, double? reusedWarmupS)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var plans = new[] { first, second };
        var driver = first.Driver;
        var blockS = driver.DurationS / Rounds;
        // The servers' deadline covers the whole pair, the probes between rounds included: each can take up to its
        // give-up bound on a starved machine (a first version without them failed there after 31.6 s).
        var limit = TimeSpan.FromSeconds(StartupAllowanceS + (2 * driver.WarmupS) + (2 * driver.DurationS) + (2 * Rounds * WakeMarginUs / 1e6)
            + ((Rounds + 1) * PlacementProbe.BurstLimit.TotalSeconds));
        using var peerGone = new CancellationTokenSource();
        var guard = new RunGuard(limit, peerGone.Token);
        var kinds = new[] { ChildPool.PlainServer, SecondKind };
        var servers = new ChildProcess?[2];
        var sessions = new ITransportSession?[2];
        var endpoints = new IMessageEndpoint?[2];
        var registrations = new List<CancellationTokenRegistration>();
        var phases = PhaseTrace.Start($"{first} + {second.Transport.Name}, interleaved");
        try
        {
            // Both server children exist before either session's descriptors do (see ChildPool.EnsureStarted).
            ChildPool.EnsureStarted(kinds[0]);
            ChildPool.EnsureStarted(kinds[1]);
            var warmups = new double[2];
            for (var side = 0; side < 2; side++)
            {
                var plan = plans[side];
                var session = sessions[side] = plan.Transport.Open(plan.Link, guard);
                var reopen = session.Server.InheritsDescriptors;
                var launch = reopen ? session.Server with { Arguments = session.Server.ReopenedFrom(Environment.ProcessId) } : session.Server;
                var cpu = pin ? CpuPinning.ServerCpu : -1; // both servers on one CPU with --pin: one of them always sleeps
                var spec = new ChildSpec(LinkRole.Server, plan.Transport.Name, plan.Link, plan.Driver, limit.TotalSeconds, cpu, launch.Arguments);
                var server = servers[side] = ChildPool.Rent(kinds[side], kinds[side], [], _ => spec, out var started);
                if (reopen)
                {
                    server.WaitJoined(limit);
                }
                registrations.Add(server.Exited.Register(peerGone.Cancel));
                warmups[side] = !started && reusedWarmupS is { } reused && reused < driver.WarmupS ? reused : driver.WarmupS;
                session.ChildrenStarted();
                endpoints[side] = session.ConnectClient(guard);
            }
            phases.Mark("open+start+connect");
            using var watchdog = new Timer(_ => KillAll(servers), null, limit + TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);

            // Warm-ups, one side after the other; the side that waits sleeps through the other's.
            var clients = new[] { ThroughputClient.ForBlocks(endpoints[0]!, first.Link), ThroughputClient.ForBlocks(endpoints[1]!, second.Link) };
            clients[0].WarmUp(warmups[0]);
            clients[0].Pause(SleepUs(warmups[1]));
            clients[1].WarmUp(warmups[1]);
            clients[1].Pause(SleepUs(blockS)); // round 0 starts with side 0
            phases.Mark("warm-up");

            var sent = new long[2, Rounds];
            var elapsed = new double[2, Rounds];
            var cpuClient = new double[2];
            var kept = new bool[Rounds];
            var probes = new List<(long P50Ns, long P99Ns)?> { probe?.Measure() };
            for (var round = 0; round < Rounds; round++)
            {
                for (var turn = 0; turn < 2; turn++)
                {
                    var side = (round + turn) % 2; // A B, then B A: each side first as often as second
                    // This side's next block: right after the probe when it ends this round (it opens the next one),
                    // else after the other side's two blocks (the end of this round and the start of the next).
                    // In the last round: through the other side's last block, or not at all (the Stops follow).
                    var last = round == Rounds - 1;
                    var sleepUs = turn == 1 ? (last ? 0 : SleepUs(0)) : SleepUs((last ? 1 : 2) * blockS);
                    var (count, seconds, cpu) = clients[side].Block(blockS, sleepUs);
                    sent[side, round] = count;
                    elapsed[side, round] = seconds;
                    cpuClient[side] += cpu;
                }
                var after = probe?.Measure();
                probes.Add(after);
                kept[round] = Agree(probe is not null, probes[round], after);
                Console.Error.WriteLine($"    {first.Link.Test.ToName()} {first.Link.Api.ToName()} round {round + 1}/{Rounds}: {first.Transport.Name} {Units.Rate((long)(sent[0, round] / elapsed[0, round]))} / {second.Transport.Name} {Units.Rate((long)(sent[1, round] / elapsed[1, round]))} msgs/s = {100.0 * sent[0, round] / elapsed[0, round] / (sent[1, round] / elapsed[1, round]):0} %{(probe is null ? "" : $", probe {probes[round]?.P50Ns}/{after?.P50Ns} ns{(kept[round] ? "" : " MOVED: round dropped")}")}");
            }
            var reports = new ServerReport[2];
            foreach (var side in new[] { (Rounds - 1) % 2 == 0 ? 1 : 0, (Rounds - 1) % 2 == 0 ? 0 : 1 }) // the side that measured last is awake: stop it first
            {
                clients[side].Stop();
                reports[side] = servers[side]!.WaitReport(TimeSpan.FromSeconds(StartupAllowanceS)).Server ?? throw new InvalidDataException($"The {plans[side].Transport.Name} server child reported nothing.");
            }
            if (reports[0].BlockMsgsPerPoll is { } perPoll0 && reports[1].BlockMsgsPerPoll is { } perPoll1)
            {
                Console.Error.WriteLine($"    {first.Link.Test.ToName()} {first.Link.Api.ToName()} messages per poll by round: {first.Transport.Name} {string.Join(' ', perPoll0)} / {second.Transport.Name} {string.Join(' ', perPoll1)}");
            }
            phases.Mark("rounds");
            foreach (var registration in registrations)
            {
                registration.Dispose(); // their normal exits are no longer news
            }
            registrations.Clear();
            for (var side = 0; side < 2; side++)
            {
                if (ChildPool.Enabled)
                {
                    ChildPool.Return(kinds[side], servers[side]!);
                }
                else
                {
                    servers[side]!.Finish(); // IIC_PERF_REUSE_CHILD=0: no child outlives its rows
                    servers[side]!.Dispose();
                }
                servers[side] = null;
            }
            phases.Print();

            var keptRounds = Enumerable.Range(0, Rounds).Where(r => kept[r]).ToList();
            var rounds = keptRounds.Count > 0 ? keptRounds : [.. Enumerable.Range(0, Rounds)]; // none kept: pool all, the rows then say MOVED
            var keptProbes = keptRounds.Count > 0
                ? (Median(keptRounds.Select(r => probes[r])), Median(keptRounds.Select(r => probes[r + 1])))
                : (probes[0], probes[^1]);
            var rows = new BenchResult[2];
            for (var side = 0; side < 2; side++)
            {
                var total = Enumerable.Range(0, Rounds).Sum(r => sent[side, r]);
                if (reports[side].Messages != total)
                {
                    throw new InvalidDataException($"The {plans[side].Transport.Name} server handled {reports[side].Messages} messages in the measured blocks, the client sent {total}.");
                }
                var count = rounds.Sum(r => sent[side, r]);
                var seconds = rounds.Sum(r => elapsed[side, r]);
                var allSeconds = Enumerable.Range(0, Rounds).Sum(r => elapsed[side, r]);
                var measurement = new ClientMeasurement(count, seconds, cpuClient[side] * seconds / allSeconds, Latency: null, count / seconds);
                var server = reports[side] with { CpuS = reports[side].CpuS * seconds / allSeconds }; // CPU over the kept blocks' share
                var side1 = side;
                rows[side] = Placement.WithProbes(ResultRows.Measured(plans[side], measurement, server), keptProbes.Item1, keptProbes.Item2, probing: probe is not null) with
                {
                    Rounds = Rounds,
                    RoundsDropped = Rounds - keptRounds.Count,
                    RoundMsgsPerS = [.. Enumerable.Range(0, Rounds).Select(r => kept[r] ? (long?)(sent[side1, r] / elapsed[side1, r]) : null)],
                    RoundMsgsPerPoll = reports[side].BlockMsgsPerPoll is { Count: Rounds } perPoll
                        ? [.. Enumerable.Range(0, Rounds).Select(r => kept[r] ? (double?)perPoll[r] : null)]
                        : null,
                    RoundProbeNs = probe is null ? null : [.. probes.Select(p => p?.P50Ns)],
                };
            }
            var ratios = Enumerable.Range(0, Rounds)
                .Select(r => kept[r] ? (double?)Math.Round(sent[0, r] / elapsed[0, r] / (sent[1, r] / elapsed[1, r]), 4) : null)
                .ToList();
            var keptRatios = ratios.OfType<double>().ToList();
            rows[0] = rows[0] with
            {
                InterleavedWith = second.Transport.Name,
                RoundRatios = ratios,
                RoundRatioMedian = keptRatios.Count > 0 ? Math.Round(RoundStatistics.Median(keptRatios), 4) : null,
            };
            rows[1] = rows[1] with { InterleavedWith = first.Transport.Name };
            return rows;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var children = servers.Select(s => s?.ExitSummary(TimeSpan.FromSeconds(2))).OfType<string>();
            var reason = string.Join("; ", children.Prepend($"{e.GetType().Name}: {e.Message}"));
            return [ResultRows.Failed(first, reason), ResultRows.Failed(second, reason)];
        }
        finally
        {
            foreach (var registration in registrations)
            {
                registration.Dispose();
            }
            foreach (var endpoint in endpoints)
            {
                endpoint?.Dispose();
            }
            foreach (var server in servers)
            {
                server?.Dispose(); // only a failed pair's: a returned child is null here
            }
            foreach (var session in sessions)
            {
                session?.Dispose();
            }
        }
    }

    /// <summary>How long a receiver sleeps while the other side measures for <paramref name="otherSeconds"/>.</summary>
    private static long SleepUs(double otherSeconds) => (long)(otherSeconds * 1e6) + WakeMarginUs;

    /// <summary>Whether a round is kept: always without a probe; with one, only when both its probes answered and agree.</summary>
    private static bool Agree(bool probed, (long P50Ns, long P99Ns)? before, (long P50Ns, long P99Ns)? after)
        => !probed
            || (before is { } b && after is { } a && Placement.Agree(b.P50Ns, a.P50Ns));

    private static (long P50Ns, long P99Ns)? Median(IEnumerable<(long P50Ns, long P99Ns)?> probes)
    {
        var list = probes.OfType<(long P50Ns, long P99Ns)>().ToList();
        return list.Count == 0 ? null : ((long)RoundStatistics.Median([.. list.Select(p => (double)p.P50Ns)]), (long)RoundStatistics.Median([.. list.Select(p => (double)p.P99Ns)]));
    }

    private static void KillAll(ChildProcess?[] servers)
    {
        Console.Error.WriteLine("The interleaved measurement overran its time limit: killing its child processes.");
        foreach (var server in servers)
        {
            server?.Kill();
        }
    }
}
