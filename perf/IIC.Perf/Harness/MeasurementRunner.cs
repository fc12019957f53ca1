using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// Makes one measurement between two processes: opens the transport's session, starts the server child (and a
/// client child where the client cannot run here), runs the client, collects both reports, and turns any failure
/// into a row that says what went wrong. Every wait is bounded; a watchdog kills children that outlive the run.
/// </summary>
/// <param name="pin">Pin each side's measuring thread.</param>
/// <param name="countOnlyLimitS">With --count only: the longest a measurement may run.</param>
/// <param name="reusedWarmupS">The warm-up of a row whose server child is reused (never longer than the run's), or null to warm every row alike.</param>
internal sealed class MeasurementRunner(bool pin, double countOnlyLimitS, double? reusedWarmupS)
{
    // Starting a child (the runtime, the JIT) can take seconds on a busy 2-core machine.
    private const double StartupAllowanceS = 30;

    /// <summary>
    /// One-way rows stop their clock where the receiver took the Stop (round 14, <see cref="ClientMeasurement.EndedAt"/>);
    /// <c>IIC_PERF_STOP_AT_ACK=1</c> stops it at the client's receipt of the Stop's acknowledgement, as before.
    /// </summary>
    public static bool StopClock { get; } = Environment.GetEnvironmentVariable("IIC_PERF_STOP_AT_ACK") != "1";

    public BenchResult Run(MeasurementPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var driver = plan.Driver;
        var measureS = ((driver.DurationS > 0 ? driver.DurationS : countOnlyLimitS) * (driver.HasGaps ? 1.5 : 1)) + driver.IdleS;
        var limit = TimeSpan.FromSeconds(StartupAllowanceS + driver.WarmupS + measureS);
        using var peerGone = new CancellationTokenSource();
        var guard = new RunGuard(limit, peerGone.Token);
        ChildProcess? server = null;
        ChildProcess? client = null;
        string? serverKind = null; // the pool kind of a reused child, null for a child of this row only
        string? clientKind = null;
        var phases = PhaseTrace.Start(plan.ToString());
        try
        {
            if (ChildPool.Enabled && ChildPool.ReuseInheriting)
            {
                ChildPool.EnsureStarted(); // before the session's descriptors exist: see there
            }
            using var session = plan.Transport.Open(plan.Link, guard);
            phases.Mark("open");
            // A child that needs this process's descriptors (raw-shm's memfd, the pipes) is reused too unless
            // IIC_PERF_REUSE_INHERITING=0: it opens them through /proc/<this pid>/fd (ChildLaunch.ReopenedFrom). Children
            // under a prefix (namespaces) are reused per role and prefix unless IIC_PERF_REUSE_PREFIXED=0 (round 13).
            var reopen = session.Server.InheritsDescriptors && session.Server.Prefix.Count == 0;
            var reuse = ChildPool.Reusable(session.Server);
            var serverLaunch = reuse && reopen ? session.Server with { Arguments = session.Server.ReopenedFrom(Environment.ProcessId) } : session.Server;
            var started = true;
            if (reuse)
            {
                serverKind = ChildPool.Kind(ChildPool.PlainServer, session.Server);
                server = ChildPool.Rent(serverKind, "server", session.Server.Prefix, _ => Spec(plan, LinkRole.Server, serverLaunch, driver, limit), out started);
            }
            else
            {
                server = ChildProcess.Start("server", session.Server, Spec(plan, LinkRole.Server, serverLaunch, driver, limit));
            }
            if (reuse && reopen)
            {
                server.WaitJoined(limit); // it has opened its own copies: ChildrenStarted below may close ours
            }
            var serverWarm = !started;
            if (serverWarm && session.RemoteClient is null && reusedWarmupS is { } warmup && warmup < driver.WarmupS)
            {
                driver = driver with { WarmupS = warmup }; // the child is up and compiled: see BenchOptions.DefaultReusedWarmupS
            }
            using var serverGone = server.Exited.Register(peerGone.Cancel);
            using var watchdog = new Timer(_ => KillAll(server, client), null, limit + TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
            ClientMeasurement measurement;
            if (session.RemoteClient is { } remote)
            {
                // The measuring client runs as a child too (in its own namespace): reused like the server, and warmed
                // up for the shorter time only when both sides were already up and compiled.
                if (ChildPool.Reusable(remote))
                {
                    clientKind = ChildPool.Kind("client", remote);
                    client = ChildPool.Rent(clientKind, "client", remote.Prefix, clientStarted => Spec(plan, LinkRole.Client, remote, ReusedDriver(driver, serverWarm && !clientStarted), limit), out _);
                }
                else
                {
                    client = ChildProcess.Start("client", remote, Spec(plan, LinkRole.Client, remote, driver, limit));
                }
                session.ChildrenStarted();
                phases.Mark("start");
                measurement = client.WaitReport(limit).Client ?? throw new InvalidDataException("The client child reported no measurement.");
            }
            else
            {
                session.ChildrenStarted();
                phases.Mark("start");
                using var endpoint = session.ConnectClient(guard);
                phases.Mark("connect");
                measurement = plan.Link.Test.IsOneWay()
                    ? ThroughputClient.Run(endpoint, plan.Link, driver)
                    : PingPongClient.Run(endpoint, plan.Link, driver);
            }
            phases.Mark("run");
            var report = server.WaitReport(TimeSpan.FromSeconds(StartupAllowanceS)).Server ?? throw new InvalidDataException("The server child reported nothing.");
            phases.Mark("report");
            serverGone.Dispose(); // its normal exit is no longer news
            if (serverKind is not null)
            {
                ChildPool.Return(serverKind, server); // it waits for the next row's spec
                server = null;
            }
            else
            {
                server.Finish();
            }
            if (clientKind is not null && client is not null)
            {
                ChildPool.Return(clientKind, client);
                client = null;
            }
            client?.Finish();
            phases.Mark("finish");
            phases.Print();
            if (report.Messages != measurement.Count)
            {
                throw new InvalidDataException($"The server handled {report.Messages} messages in the measured phase, the client {measurement.Count}.");
            }
            var stopped = measurement.EndedAt(report.StopSeenTicks);
            if (PhaseTrace.Enabled && !ReferenceEquals(stopped, measurement))
            {
                Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"clock {plan}: {measurement.Count} messages; to the sink's taking the Stop {stopped.ElapsedS:0.0000} s ({stopped.MessagesPerSecond * plan.Link.MessageSize / 1e9:0.00} GB/s), to its acknowledgement {measurement.ElapsedS:0.0000} s ({measurement.MessagesPerSecond * plan.Link.MessageSize / 1e9:0.00} GB/s){(StopClock ? "" : "; reported: the acknowledgement's (IIC_PERF_STOP_AT_ACK=1)")}"));
            }
            return ResultRows.Measured(plan, StopClock ? stopped : measurement, report);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The children's own words are usually the real reason; give them a moment to exit and say it.
            var children = new[] { server?.ExitSummary(TimeSpan.FromSeconds(2)), client?.ExitSummary(TimeSpan.FromSeconds(2)) }.OfType<string>();
            return ResultRows.Failed(plan, string.Join("; ", children.Prepend($"{e.GetType().Name}: {e.Message}")));
        }
        finally
        {
            client?.Dispose();
            server?.Dispose();
        }
    }

    private ChildSpec Spec(MeasurementPlan plan, LinkRole role, ChildLaunch launch, DriverSettings driver, TimeSpan limit)
    {
        var cpu = !pin ? -1 : role == LinkRole.Server ? CpuPinning.ServerCpu : CpuPinning.ClientCpu;
        return new ChildSpec(role, plan.Transport.Name, plan.Link, driver, limit.TotalSeconds, cpu, launch.Arguments);
    }

    /// <summary><paramref name="driver"/> with the reused warm-up when <paramref name="bothWarm"/> (no process of the row is new).</summary>
    private DriverSettings ReusedDriver(DriverSettings driver, bool bothWarm)
        => bothWarm && reusedWarmupS is { } warmup && warmup < driver.WarmupS ? driver with { WarmupS = warmup } : driver;

    private static void KillAll(ChildProcess? server, ChildProcess? client)
    {
        Console.Error.WriteLine("The measurement overran its time limit: killing its child processes.");
        server?.Kill();
        client?.Kill();
    }
}
