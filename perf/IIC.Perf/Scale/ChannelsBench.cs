using System.Diagnostics;
using HdrHistogram;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Results;
using IIC.Perf.Transports.Iic;
using IIC.Transport;

namespace IIC.Perf.Scale;

/// <summary>
/// Wake-up latency and idle CPU against open idle channels, judged in rounds (issue 17). One server child per N
/// (1, 10, 100, 1000), all started at once, each one thread waiting on its N grouped channels as an
/// <see cref="IicChannelGroup"/> that parks at once (<see cref="WaitModes.Park"/>: no spin phase, so a gap of a few
/// tens of µs finds it asleep). The client (this process) polls for each echo without ever parking, so a round trip
/// holds exactly one wake-up: the server's. Rounds interleave the N (round r starts at the r-th N and goes round),
/// each round between two placement probes: a round whose probe moved is dropped for every N alike (reported), so
/// the host moving the vCPUs hits every N the same way. Only round trips whose send found the server asleep (the
/// doorbell issued a futex wake: <see cref="IIC.Hardware.Doorbell.SignalsRaised"/>) are wake-ups; the others are
/// counted and reported, never mixed in. Idle CPU: every server is idle through the same second at the end.
/// </summary>
internal static class ChannelsBench
{
    /// <summary>The shortest pause before a round trip, µs: a parked-at-once server is back in futex_waitv within a few µs of echoing.</summary>
    public const double GapMinUs = 40;

    /// <summary>The longest pause, µs (uniform between the two: no resonance with the host's timer tick).</summary>
    public const double GapMaxUs = 120;

    private const int MinWarmupRoundTrips = 500;
    private const int WarmupTurn = 25; // round trips per lane per turn of the shared warm-up (~2 ms)
    private const int GapTableSize = 4096; // power of two

    /// <summary>Runs every N's rounds and returns one row per N (api null, or "spread" with spread traffic).</summary>
    public static IReadOnlyList<BenchResult> Run(ChannelsSettings settings, IBenchTransport transport, PlacementProbe? probe, bool pin)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(transport);
        var limit = TimeSpan.FromSeconds(60 + (settings.Counts.Count * ((settings.WarmupS * 2) + (settings.Rounds * settings.BlockS * 2))) + settings.IdleS);
        var lanes = new List<Lane>();
        // Every N's server on one CPU and this (client) thread on the other, whether or not --pin was given: unpinned, each
        // server process kept a placement history of its own, and one lane (N = 10 in one run) read 2x the others for a
        // whole run while N = 100 and 1000 matched N = 1. Pinned, a wake-up crosses CPUs the same way for every N.
        var place = pin || CpuPinning.IsPossible;
        var savedAffinity = place && OperatingSystem.IsLinux() ? IIC.Native.CpuAffinity.GetForCurrentThread() : null;
        try
        {
            if (savedAffinity is not null)
            {
                IIC.Native.CpuAffinity.SetForCurrentThread([CpuPinning.ClientCpu]);
            }
            foreach (var count in settings.Counts)
            {
                lanes.Add(Lane.Start(transport, settings, count, limit, savedAffinity is not null));
            }
            foreach (var lane in lanes)
            {
                lane.Connect();
            }
            var send = new byte[settings.Size];
            var receive = new byte[settings.Size];
            MessageStamp.Fill(send);
            var gaps = MakeGaps();
            // The lanes warm up together, in turns of a few round trips, for the warm-up's time (each at least its
            // minimum of round trips), then each is marked: 0.25 s for all four instead of 0.25 s each (round 13).
            var warmupEnd = Stopwatch.GetTimestamp() + (long)(settings.WarmupS * Stopwatch.Frequency);
            while (lanes.Any(lane => !lane.WarmedUp) || Stopwatch.GetTimestamp() < warmupEnd)
            {
                foreach (var lane in lanes)
                {
                    lane.WarmUpTurn(send, receive, gaps);
                }
            }
            foreach (var lane in lanes)
            {
                lane.Control(send, receive, MessageStamp.Mark);
            }
            var probesBefore = new List<(long P50Ns, long P99Ns)>();
            var probesAfter = new List<(long P50Ns, long P99Ns)>();
            for (var round = 0; round < settings.Rounds; round++)
            {
                var before = probe?.Measure();
                for (var i = 0; i < lanes.Count; i++)
                {
                    lanes[(round + i) % lanes.Count].Block(send, receive, gaps, settings.BlockS);
                }
                var after = probe?.Measure();
                var kept = Agree(before, after);
                if (kept && before is { } b && after is { } a)
                {
                    probesBefore.Add(b);
                    probesAfter.Add(a);
                }
                foreach (var lane in lanes)
                {
                    lane.EndRound(kept);
                }
                Console.Error.WriteLine($"    channels round {round + 1}/{settings.Rounds}: p50 {string.Join(" / ", lanes.Select(l => l.LastRoundText))} µs at {string.Join(" / ", lanes.Select(l => l.Count))} channels{(probe is null ? "" : $", probe {before?.P50Ns}/{after?.P50Ns} ns{(kept ? "" : " MOVED: round dropped")}")}");
            }
            foreach (var lane in lanes)
            {
                lane.Control(send, receive, MessageStamp.Idle);
            }
            Thread.Sleep(TimeSpan.FromSeconds(settings.IdleS)); // every server idle through the same second
            foreach (var lane in lanes)
            {
                lane.Control(send, receive, MessageStamp.Stop);
            }
            var probeBefore = Median(probesBefore);
            var probeAfter = Median(probesAfter);
            var fewest = lanes.MinBy(lane => lane.Count)!;
            return [.. lanes.Select(lane => Placement.WithProbes(lane.Finish(settings, fewest), probeBefore, probeAfter, probing: probe is not null))];
        }
        finally
        {
            foreach (var lane in lanes)
            {
                lane.Dispose();
            }
            if (savedAffinity is not null)
            {
                IIC.Native.CpuAffinity.SetForCurrentThread(savedAffinity);
            }
        }
    }

    private static bool Agree((long P50Ns, long P99Ns)? before, (long P50Ns, long P99Ns)? after)
        => before is null && after is null
            || (before is { } b && after is { } a && b.P50Ns > 0 && a.P50Ns > 0 && Math.Max(b.P50Ns, a.P50Ns) <= Placement.Tolerance * Math.Min(b.P50Ns, a.P50Ns));

    private static (long P50Ns, long P99Ns)? Median(List<(long P50Ns, long P99Ns)> probes)
        => probes.Count == 0 ? null : ((long)RoundStatistics.Median([.. probes.Select(p => (double)p.P50Ns)]), (long)RoundStatistics.Median([.. probes.Select(p => (double)p.P99Ns)]));

    private static long[] MakeGaps()
    {
        var random = new Random(17); // the same pauses every run
        var gaps = new long[GapTableSize];
        for (var i = 0; i < gaps.Length; i++)
        {
            gaps[i] = (long)((GapMinUs + (random.NextDouble() * (GapMaxUs - GapMinUs))) * Stopwatch.Frequency / 1e6);
        }
        return gaps;
    }

    /// <summary>One N: its server child, its client channels, and what its rounds measured.</summary>
    private sealed class Lane : IDisposable
    {
        private readonly ChannelsSettings _settings;
        private readonly ITransportSession _session;
        private readonly ChildProcess _server;
        private readonly CancellationTokenSource _peerGone = new();
        private readonly RunGuard _guard;
        private readonly LongHistogram _pooled = LatencySummary.NewTickHistogram();
        private readonly LongHistogram _block = LatencySummary.NewTickHistogram();
        private readonly List<long?> _roundP50s = [];
        private readonly List<int[]> _keptRounds = []; // each kept round's wake-ups, binned (RoundStatistics.LogBins)
        private readonly CancellationTokenRegistration _serverGone;
        private IicChannelsClientEndpoint? _endpoint;
        private IicChannel[] _channels = [];
        private long _sequence;
        private long _measured; // round trips after Mark (the server's count)
        private long _woken; // kept round trips that woke a parked server
        private long _notWoken; // kept round trips whose send found the server awake
        private long _blockNotWoken;
        private uint _random = 0x9E3779B9;

        private Lane(int count, ChannelsSettings settings, ITransportSession session, ChildProcess server, TimeSpan limit)
        {
            Count = count;
            _settings = settings;
            _session = session;
            _server = server;
            _guard = new RunGuard(limit, _peerGone.Token);
            _serverGone = server.Exited.Register(_peerGone.Cancel);
        }

        public int Count { get; }

        public string LastRoundText => _roundP50s.Count > 0 && _roundP50s[^1] is { } ns ? Units.Micros(ns) : "-";

        public static Lane Start(IBenchTransport transport, ChannelsSettings settings, int count, TimeSpan limit, bool pin)
        {
            var link = new LinkOptions(BenchTest.Channels, WaitModes.Park, settings.Size, ReceiveApi.Receive, count, settings.Spread);
            var guard = new RunGuard(limit, CancellationToken.None);
            var session = transport.Open(link, guard);
            try
            {
                var driver = new DriverSettings(settings.WarmupS, settings.BlockS, 0, GapMinUs, GapMaxUs, settings.IdleS);
                var spec = new ChildSpec(LinkRole.Server, transport.Name, link, driver, limit.TotalSeconds, pin ? CpuPinning.ServerCpu : -1, session.Server.Arguments);
                var server = ChildProcess.Start($"channels x{count} server", session.Server, spec);
                return new Lane(count, settings, session, server, limit);
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }

        public void Connect()
        {
            _session.ChildrenStarted();
            _endpoint = (IicChannelsClientEndpoint)_session.ConnectClient(_guard);
            _channels = _endpoint.Channels;
        }

        /// <summary>Whether this lane has made its warm-up's minimum of round trips.</summary>
        public bool WarmedUp => _sequence >= MinWarmupRoundTrips;

        /// <summary>A few warm-up round trips (with pauses, unrecorded); the lanes take turns until the warm-up is over.</summary>
        public void WarmUpTurn(byte[] send, byte[] receive, long[] gaps)
        {
            for (var i = 0; i < WarmupTurn; i++)
            {
                RoundTrip(send, receive, gaps, record: false);
            }
        }

        /// <summary>Round trips with pauses for <paramref name="seconds"/>: this lane's block of one round.</summary>
        public void Block(byte[] send, byte[] receive, long[] gaps, double seconds)
        {
            _block.Reset();
            _blockNotWoken = 0;
            var end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < end)
            {
                RoundTrip(send, receive, gaps, record: true);
                _measured++;
            }
        }

        /// <summary>The round's after-probe is in: keep this lane's block, or drop it with the round.</summary>
        public void EndRound(bool kept)
        {
            if (!kept)
            {
                _roundP50s.Add(null);
                return;
            }
            _roundP50s.Add(_block.TotalCount > 0 ? ToNs(_block.GetValueAtPercentile(50)) : null);
            _pooled.Add(_block);
            var bins = new int[RoundStatistics.BinCount];
            foreach (var value in _block.RecordedValues())
            {
                bins[RoundStatistics.LogBins(ToNs(value.ValueIteratedTo))] += (int)value.CountAtValueIteratedTo;
            }
            _keptRounds.Add(bins); // also when empty: the kept lists of all lanes pair up by position
            _woken += _block.TotalCount;
            _notWoken += _blockNotWoken;
        }

        private void RoundTrip(byte[] send, byte[] receive, long[] gaps, bool record)
        {
            var channel = Next();
            Pause(gaps[(int)_sequence & (GapTableSize - 1)]);
            var sequence = _sequence++;
            var doorbell = channel.Endpoint.Doorbell;
            var raised = doorbell.SignalsRaised;
            MessageStamp.Write(send, sequence);
            var before = Stopwatch.GetTimestamp();
            channel.Send(send);
            var length = Await(channel, receive);
            var after = Stopwatch.GetTimestamp();
            MessageStamp.Verify(receive.AsSpan(0, length), _settings.Size, sequence);
            if (!record)
            {
                return;
            }
            if (doorbell.SignalsRaised != raised)
            {
                _block.RecordValue(Math.Min(after - before, LatencySummary.MaxTicks)); // a wake-up of a parked server
            }
            else
            {
                _blockNotWoken++; // the server was not asleep yet: not a wake-up
            }
        }

        /// <summary>The channel of the next round trip: the last opened, or (spread) a pseudo-random one.</summary>
        private IicChannel Next()
        {
            if (!_settings.Spread)
            {
                return _channels[^1];
            }
            _random ^= _random << 13;
            _random ^= _random >> 17;
            _random ^= _random << 5;
            return _channels[(int)(_random % (uint)_channels.Length)];
        }

        /// <summary>Polls for the echo without parking (the client's own wait is no wake-up), checking the guard now and then.</summary>
        private int Await(IicChannel channel, byte[] receive)
        {
            try
            {
                var spins = 0;
                int length;
                while (!channel.TryReceive(receive, out length))
                {
                    if ((++spins & 0xFFF) == 0)
                    {
                        _guard.Check();
                    }
                }
                return length;
            }
            catch (IicChannelClosedException e)
            {
                throw new PeerGoneException($"The channels x{Count} server closed a channel.", e);
            }
        }

        /// <summary>Sends a control message on the busy channel and checks that it comes back.</summary>
        public void Control(byte[] send, byte[] receive, long code)
        {
            var channel = _channels[^1];
            MessageStamp.Write(send, code);
            channel.Send(send);
            var length = Await(channel, receive);
            MessageStamp.Verify(receive.AsSpan(0, length), _settings.Size, code);
        }

        public BenchResult Finish(ChannelsSettings settings, Lane fewest)
        {
            // Rounds are kept or dropped for every lane alike, so the kept lists pair up by position.
            var (ratio, low, high) = RoundStatistics.PooledRatioWithInterval(_keptRounds, fewest._keptRounds);
            var report = _server.WaitReport(TimeSpan.FromSeconds(30)).Server ?? throw new InvalidDataException($"The channels x{Count} server reported nothing.");
            _serverGone.Dispose(); // its normal exit is no longer news
            _server.Finish();
            if (report.Messages != _measured)
            {
                throw new InvalidDataException($"The channels x{Count} server echoed {report.Messages} messages in the measured phase, the client sent {_measured}.");
            }
            var latency = LatencySummary.FromTicks(_pooled);
            var total = _woken + _notWoken;
            return new BenchResult
            {
                Test = BenchTest.Channels.ToName(),
                Transport = RatioTable.Iic,
                Mode = WaitModes.Park,
                Api = settings.Spread ? MeasurementPlan.ChannelsSpreadApi : null,
                Size = settings.Size,
                Channels = Count,
                Count = _woken,
                CpuServerS = Math.Round(report.CpuS, 4),
                IdleCpuPct = report.IdleCpuFraction is { } idle ? Math.Round(idle * 100, 3) : null,
                Rounds = settings.Rounds,
                RoundsDropped = _roundP50s.Count(p => p is null),
                RoundP50Ns = [.. _roundP50s],
                WokenPct = total > 0 ? Math.Round(100.0 * _woken / total, 2) : null,
                P50RatioToFewest = Round3(ratio),
                P50RatioLow = Round3(low),
                P50RatioHigh = Round3(high),
            }.WithLatency(latency);
        }

        public void Dispose()
        {
            _serverGone.Dispose();
            _endpoint?.Dispose();
            _server.Dispose();
            _session.Dispose();
            _peerGone.Dispose();
        }

        private static void Pause(long ticks)
        {
            var until = Stopwatch.GetTimestamp() + ticks;
            while (Stopwatch.GetTimestamp() < until)
            {
            }
        }

        private static double? Round3(double value) => double.IsFinite(value) ? Math.Round(value, 3) : null;

        private static long ToNs(long ticks) => (long)Math.Round(ticks * 1e9 / Stopwatch.Frequency);
    }
}

/// <summary>What the channels test runs: the N, rounds, each N's block per round, the pauses' size and the idle phase.</summary>
internal sealed record ChannelsSettings(IReadOnlyList<int> Counts, int Rounds, double BlockS, double WarmupS, double IdleS, int Size, bool Spread);
