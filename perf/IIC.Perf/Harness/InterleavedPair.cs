using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// Two rows measured in interleaved same-probe rounds (issue 17's targets compare rows "in the same run, same
/// placement", and the host flips placements every few seconds): iic and raw-shm, one test, size, mode and API, each
/// with its own server child and connection, open together. After each side's warm-up the run alternates short
/// blocks, <see cref="Rounds"/> rounds of one block per side (the order flips every round: A B | B A | A B ...), with a
/// placement probe between rounds. A round whose probes (before and after it) disagree is dropped for both sides.
/// While one side measures, the other side's server sleeps (the Lap that ends its block tells it how long) instead of
/// spinning beside it on an empty ring; the next block's Resume waits for it. What a block measures and what rows it
/// makes is the <see cref="IInterleavedKind"/>'s: one-way rates (<see cref="InterleavedOneWay"/>, round 13) or
/// round-trip latencies (<see cref="InterleavedPingPong"/>, round 19).
/// </summary>
internal static class InterleavedPair
{
    /// <summary>Rounds per pair: each side measures <see cref="Rounds"/> blocks of a tenth of the row's duration.</summary>
    public const int Rounds = 10;

    /// <summary>The pool kind of the second side's server child (the first side rents the plain one).</summary>
    private const string SecondKind = "server 2";

    // A sleeping server wakes this long after the other side's blocks should be over: the probe between rounds (a few
    // ms) and timer slack. The client's Resume waits for it (unmeasured).
    private const long WakeMarginUs = 4_000;

    private const double StartupAllowanceS = 30;

    /// <summary>
    /// Measures <paramref name="first"/> and <paramref name="second"/> (same test, size, mode and API) interleaved and
    /// returns <paramref name="kind"/>'s rows; a failure gives both rows failed, with the children's last words.
    /// </summary>
    public static IReadOnlyList<BenchResult> Run(MeasurementPlan first, MeasurementPlan second, PlacementProbe? probe, bool pin, double? reusedWarmupS, IInterleavedKind kind)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        ArgumentNullException.ThrowIfNull(kind);
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
            var clients = new[] { kind.Client(0, endpoints[0]!), kind.Client(1, endpoints[1]!) };
            clients[0].WarmUp(warmups[0]);
            clients[0].Pause(SleepUs(warmups[1]));
            clients[1].WarmUp(warmups[1]);
            clients[1].Pause(SleepUs(blockS)); // round 0 starts with side 0
            phases.Mark("warm-up");

            var kept = new bool[Rounds];
            var probes = new List<(long P50Ns, long P99Ns)?> { probe?.Measure() };
            for (var round = 0; round < Rounds; round++)
            {
                for (var turn = 0; turn < 2; turn++)
                {
                    var side = (round + turn) % 2; // A B, then B A: each side first as often as second
                    // This side's next block: right after the probe when it ends this round (it opens the next one),
                    // else after the other side's two blocks (the end of this round and the start of the next) and
                    // the other side's own wait through the probe between them (round 19: without that second margin
                    // this side's server woke about when the other side's second block ended, under load inside it,
                    // and spun beside its last round trips). In the last round: through the other side's last block,
                    // or not at all (the Stops follow).
                    var last = round == Rounds - 1;
                    var sleepUs = turn == 1 ? (last ? 0 : SleepUs(0)) : last ? SleepUs(blockS) : SleepUs(2 * blockS) + WakeMarginUs;
                    clients[side].Block(round, blockS, sleepUs);
                }
                var after = probe?.Measure();
                probes.Add(after);
                kept[round] = Agree(probe is not null, probes[round], after);
                kind.RoundEnded(round, kept[round]);
                Console.Error.WriteLine($"    {first.Link.Test.ToName()} {first.Link.Api.ToName()} round {round + 1}/{Rounds}: {kind.RoundText(round)}{(probe is null ? "" : $", probe {probes[round]?.P50Ns}/{after?.P50Ns} ns{(kept[round] ? "" : " MOVED: round dropped")}")}");
            }
            var reports = new ServerReport[2];
            foreach (var side in new[] { (Rounds - 1) % 2 == 0 ? 1 : 0, (Rounds - 1) % 2 == 0 ? 0 : 1 }) // the side that measured last is awake: stop it first
            {
                clients[side].Stop();
                reports[side] = servers[side]!.WaitReport(TimeSpan.FromSeconds(StartupAllowanceS)).Server ?? throw new InvalidDataException($"The {plans[side].Transport.Name} server child reported nothing.");
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
            return kind.Rows(new PairRounds(first, second, reports, kept, probes, probe is not null));
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

    /// <summary>How long a server sleeps while the other side measures for <paramref name="otherSeconds"/>.</summary>
    private static long SleepUs(double otherSeconds) => (long)(otherSeconds * 1e6) + WakeMarginUs;

    /// <summary>Whether a round is kept: always without a probe; with one, only when both its probes answered and agree.</summary>
    private static bool Agree(bool probed, (long P50Ns, long P99Ns)? before, (long P50Ns, long P99Ns)? after)
        => !probed
            || (before is { } b && after is { } a && Placement.Agree(b.P50Ns, a.P50Ns));

    private static void KillAll(ChildProcess?[] servers)
    {
        Console.Error.WriteLine("The interleaved measurement overran its time limit: killing its child processes.");
        foreach (var server in servers)
        {
            server?.Kill();
        }
    }
}

/// <summary>What an interleaved pair measures: each side's client, the rounds' progress lines, and the rows.</summary>
internal interface IInterleavedKind
{
    /// <summary>The measuring client of <paramref name="side"/> (0: the first plan's) over its connected endpoint.</summary>
    IBlockClient Client(int side, IMessageEndpoint endpoint);

    /// <summary>Both sides measured round <paramref name="round"/> and its closing probe was taken: whether it is kept.</summary>
    void RoundEnded(int round, bool kept);

    /// <summary>The round's progress line after "round r/N: " (each side's number, their ratio).</summary>
    string RoundText(int round);

    /// <summary>The two rows, from the rounds and the servers' reports.</summary>
    IReadOnlyList<BenchResult> Rows(PairRounds rounds);
}

/// <summary>One side's measuring client in interleaved rounds: a warm-up, then blocks, then a Stop.</summary>
internal interface IBlockClient
{
    /// <summary>Warms up (at least <paramref name="seconds"/>), then a Mark: the server's counters and CPU clock start.</summary>
    void WarmUp(double seconds);

    /// <summary>A Lap outside any block: the server stops its CPU clock, answers, and sleeps <paramref name="serverSleepUs"/> µs.</summary>
    void Pause(long serverSleepUs);

    /// <summary>
    /// One block: a Resume (answered once the server is awake and its CPU clock runs again), <paramref name="seconds"/>
    /// of measured traffic, then a Lap after which the server sleeps <paramref name="serverSleepUs"/> µs.
    /// </summary>
    void Block(int round, double seconds, long serverSleepUs);

    /// <summary>Ends the run: a Stop, answered; the server then reports.</summary>
    void Stop();
}

/// <summary>The rounds of an interleaved pair: which were kept, the probes around them, and what the servers reported.</summary>
internal sealed record PairRounds(MeasurementPlan First, MeasurementPlan Second, IReadOnlyList<ServerReport> Reports, IReadOnlyList<bool> Kept, IReadOnlyList<(long P50Ns, long P99Ns)?> Probes, bool Probing)
{
    public int Count => Kept.Count;

    /// <summary>The kept rounds' indices.</summary>
    public IReadOnlyList<int> KeptRounds { get; } = [.. Enumerable.Range(0, Kept.Count).Where(r => Kept[r])];

    /// <summary>The rounds the rows pool: the kept ones, or all when none was kept (the rows then say MOVED).</summary>
    public IReadOnlyList<int> Pooled => KeptRounds.Count > 0 ? KeptRounds : [.. Enumerable.Range(0, Count)];

    /// <summary>The plan of <paramref name="side"/>.</summary>
    public MeasurementPlan Plan(int side) => side == 0 ? First : Second;

    /// <summary>
    /// <paramref name="row"/> of <paramref name="side"/> (its own per-round fields set) with the pair's rounds: its
    /// probes are the medians of the kept rounds' probes before and after (the first and last probe when none was
    /// kept), it names its partner, and whether it is compared with anything is judged round by round
    /// (<see cref="Placement.JudgedByRounds"/>, round 21: by those medians, a row of near and far rounds could pass as
    /// one placement, or be marked FLIP when every block was on its own round's placement).
    /// </summary>
    public BenchResult WithRounds(int side, BenchResult row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var (before, after) = KeptRounds.Count > 0
            ? (Median(KeptRounds.Select(r => Probes[r])), Median(KeptRounds.Select(r => Probes[r + 1])))
            : (Probes[0], Probes[^1]);
        return Placement.JudgedByRounds(Placement.WithProbes(row, before, after, Probing) with
        {
            Rounds = Count,
            RoundsDropped = Count - KeptRounds.Count,
            RoundProbeNs = Probing ? [.. Probes.Select(p => p?.P50Ns)] : null,
            RoundProbeP99Ns = Probing ? [.. Probes.Select(p => p?.P99Ns)] : null,
            InterleavedWith = Plan(1 - side).Transport.Name,
        });
    }

    /// <summary>
    /// The row of <paramref name="side"/> pooled over <paramref name="pooled"/> (<see cref="Pooled"/> by default): its
    /// blocks' messages or round trips (<paramref name="counts"/>, all checked against the server's count) over their
    /// seconds, the client's and the server's CPU over the pooled blocks' share of the time, its per-round fields
    /// (<paramref name="perRound"/>, before the placement is judged from them), with the pair's rounds
    /// (<see cref="WithRounds"/>).
    /// </summary>
    public BenchResult PooledRow(int side, IReadOnlyList<long> counts, IReadOnlyList<double> elapsedS, double clientCpuS, LatencySummary? latency, Func<BenchResult, BenchResult> perRound, IReadOnlyList<int>? pooled = null)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(elapsedS);
        ArgumentNullException.ThrowIfNull(perRound);
        pooled ??= Pooled;
        var report = CheckedReport(side, counts.Sum());
        var count = pooled.Sum(r => counts[r]);
        var seconds = pooled.Sum(r => elapsedS[r]);
        var share = seconds / elapsedS.Sum();
        var measurement = new ClientMeasurement(count, seconds, clientCpuS * share, latency, count / seconds);
        return WithRounds(side, perRound(ResultRows.Measured(Plan(side), measurement, report with { CpuS = report.CpuS * share })));
    }

    /// <summary>A value per round, null for a dropped round (the rows' <c>round_*</c> fields).</summary>
    public IReadOnlyList<T?> PerKeptRound<T>(Func<int, T> value)
        where T : struct
        => [.. Enumerable.Range(0, Count).Select(r => Kept[r] ? (T?)value(r) : null)];

    /// <summary>Each round's first-over-second ratio (rounded to 4 decimals), null for a dropped round or a missing value, and the kept ones' median.</summary>
    public (IReadOnlyList<double?> Ratios, double? Median) Ratios(Func<int, int, double> value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var ratios = Enumerable.Range(0, Count)
            .Select(r => Kept[r] && value(1, r) > 0 ? (double?)Math.Round(value(0, r) / value(1, r), 4) : null)
            .ToList();
        var kept = ratios.OfType<double>().ToList();
        return (ratios, kept.Count > 0 ? Math.Round(RoundStatistics.Median(kept), 4) : null);
    }

    /// <summary>The server's report of <paramref name="side"/>, checked against the messages its client counted in all blocks.</summary>
    private ServerReport CheckedReport(int side, long clientTotal)
    {
        var report = Reports[side];
        return report.Messages == clientTotal
            ? report
            : throw new InvalidDataException($"The {Plan(side).Transport.Name} server handled {report.Messages} messages in the measured blocks, the client {clientTotal}.");
    }

    private static (long P50Ns, long P99Ns)? Median(IEnumerable<(long P50Ns, long P99Ns)?> probes)
    {
        var list = probes.OfType<(long P50Ns, long P99Ns)>().ToList();
        return list.Count == 0 ? null : ((long)RoundStatistics.Median([.. list.Select(p => (double)p.P50Ns)]), (long)RoundStatistics.Median([.. list.Select(p => (double)p.P99Ns)]));
    }
}
