using System.Text.Json;
using IIC.Tests;

namespace IIC.Perf.Tests;

/// <summary>
/// One short real run of the job's smallest rows through its command line, as a child process (the built
/// IIC.Perf.dll next to the tests): two real processes per row, the placement probe around each row, the JSON file.
/// </summary>
public sealed class JobRunTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("iic-perf-tests-").FullName;

    [Fact]
    public void PingPong32B_PollClaim_IicAndRawShm_WritesProbedRows_MeasuredInterleaved()
    {
        var (parsed, output) = RunIicAndRawShm32B("pingpong", "poll-claim", "0.1");
        using var document = parsed;
        var rows = document.RootElement.GetProperty("results").EnumerateArray().ToList();
        // One poll-claim row per transport, and nothing --api did not ask for (before round 14 the receive rows ran too).
        Assert.Equal(new[] { "iic", "raw-shm" }, rows.Select(r => r.GetProperty("transport").GetString()).Order());
        Assert.All(rows, r => Assert.Equal("poll-claim", r.GetProperty("api").GetString()));
        foreach (var row in rows)
        {
            Assert.Equal("ok", row.GetProperty("status").GetString());
            Assert.Equal("pingpong", row.GetProperty("test").GetString());
            Assert.Contains(row.GetProperty("api").GetString(), new[] { "poll-claim", "receive" });
            Assert.Equal("spin", row.GetProperty("mode").GetString());
            Assert.Equal(32, row.GetProperty("size").GetInt32());
            Assert.True(row.GetProperty("count").GetInt64() > 0);
            var p50 = row.GetProperty("p50_ns").GetInt64();
            Assert.True(p50 > 0 && p50 <= row.GetProperty("p99_ns").GetInt64() && row.GetProperty("p99_ns").GetInt64() <= row.GetProperty("max_ns").GetInt64());
            // Every row says whether its placement held. A probe that got no answer within its burst limit (a
            // machine so loaded that the probe child was not scheduled: seen here at load 4 on 2 vCPUs) leaves its
            // field out and marks the row moved, so it is compared with nothing; a row that did not move has both.
            // Both probes unanswered: no fields, still moved (Placement.WithProbes). Only a run whose probe child could
            // not start at all has rows without probe_moved, and then without probe fields.
            if (!row.TryGetProperty("probe_moved", out var moved))
            {
                Assert.False(row.TryGetProperty("probe_ns_before", out _) || row.TryGetProperty("probe_ns_after", out _));
            }
            else if (!moved.GetBoolean())
            {
                Assert.True(row.GetProperty("probe_ns_before").GetInt64() > 0);
                Assert.True(row.GetProperty("probe_ns_after").GetInt64() > 0);
            }
            else
            {
                Assert.True(row.TryGetProperty("probe_ns_before", out _) || row.TryGetProperty("probe_ns_after", out _), "a moved row keeps the probe it got");
            }
            Assert.Equal(JsonValueKind.Array, row.GetProperty("curve").ValueKind);
        }
        Assert.StartsWith("IIC.Perf pingpong --transports iic,raw-shm", document.RootElement.GetProperty("command").GetString(), StringComparison.Ordinal);

        // Measured interleaved (round 19): the rows share their rounds, and iic's ratios are the rounds' own p50s and p99s.
        var iic = rows.Single(r => r.GetProperty("transport").GetString() == "iic");
        var raw = rows.Single(r => r.GetProperty("transport").GetString() == "raw-shm");
        Assert.Equal("raw-shm", iic.GetProperty("interleaved_with").GetString());
        Assert.Equal("iic", raw.GetProperty("interleaved_with").GetString());
        var rounds = iic.GetProperty("rounds").GetInt32();
        Assert.Equal(rounds, raw.GetProperty("rounds").GetInt32());
        var dropped = iic.GetProperty("rounds_dropped").GetInt32();
        Assert.Equal(dropped, raw.GetProperty("rounds_dropped").GetInt32());
        Assert.Equal(rounds + 1, iic.GetProperty("round_probe_ns").GetArrayLength());
        foreach (var (percentile, ratiosName) in new[] { ("round_p50_ns", "round_ratios"), ("round_p99_ns", "round_p99_ratios"), ("round_p999_ns", "round_p999_ratios") })
        {
            var mine = Longs(iic.GetProperty(percentile));
            var theirs = Longs(raw.GetProperty(percentile));
            var ratios = iic.GetProperty(ratiosName).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (double?)null : e.GetDouble()).ToList();
            Assert.Equal(rounds, ratios.Count);
            Assert.Equal(dropped, ratios.Count(r => r is null));
            for (var round = 0; round < rounds; round++)
            {
                Assert.Equal(ratios[round] is null, mine[round] is null);
                Assert.Equal(ratios[round] is null, theirs[round] is null);
                if (ratios[round] is { } ratio)
                {
                    // Per round in ticks, written in ns (rounded): equal within a tick's rounding.
                    Assert.Equal((double)mine[round]!.Value / theirs[round]!.Value, ratio, (0.01 * ratio) + 1e-4);
                }
            }
        }
        // The targets against the probe divide each kept round by the probe taken just before it (round 20).
        Assert.Equal(rounds + 1, iic.GetProperty("round_probe_p99_ns").GetArrayLength());
        foreach (var (percentile, probesName, ratiosName) in new[] { ("round_p50_ns", "round_probe_ns", "round_probe_ratios"), ("round_p99_ns", "round_probe_p99_ns", "round_probe_p99_ratios") })
        {
            var mine = Longs(iic.GetProperty(percentile));
            var probes = Longs(iic.GetProperty(probesName));
            var ratios = iic.GetProperty(ratiosName).EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (double?)null : e.GetDouble()).ToList();
            Assert.Equal(rounds, ratios.Count);
            for (var round = 0; round < rounds; round++)
            {
                Assert.Equal(mine[round] is null || probes[round] is null, ratios[round] is null);
                if (ratios[round] is { } ratio)
                {
                    Assert.Equal((double)mine[round]!.Value / probes[round]!.Value, ratio, 1e-4);
                }
            }
        }
        if (dropped < rounds)
        {
            Assert.Contains("32 B poll/claim echo: p50 within 1.1x of raw-shm poll/claim (like for like), median of", output, StringComparison.Ordinal);
            Assert.Contains("32 B poll/claim echo: p50 within 1.15x of the probe's p50, median of", output, StringComparison.Ordinal);
            Assert.Contains("interleaved rounds' ratios to the probe before each", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void PingPong32B_SendAndReceive_MeasuresTheClientsRequestReplyCall_AndIsJudged()
    {
        // Round 25: each of the client's round trips is one SendAndReceive, its echo verified (its sequence and every
        // byte); the rows are paired with raw-shm and judged by the send/receive targets.
        var (parsed, output) = RunIicAndRawShm32B("pingpong", "send-and-receive", "0.1");
        using var document = parsed;
        var rows = document.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(new[] { "iic", "raw-shm" }, rows.Select(r => r.GetProperty("transport").GetString()).Order());
        foreach (var row in rows)
        {
            Assert.Equal("ok", row.GetProperty("status").GetString());
            Assert.Equal("send-and-receive", row.GetProperty("api").GetString());
            Assert.True(row.GetProperty("count").GetInt64() > 0);
        }
        Assert.Equal("raw-shm", rows.Single(r => r.GetProperty("transport").GetString() == "iic").GetProperty("interleaved_with").GetString());
        Assert.Contains("32 B send/receive echo by SendAndReceive: p50 within 1.1x of raw-shm", output, StringComparison.Ordinal);
    }

    [Fact]
    public void OneWay32B_Poll_IicAndRawShm_AreMeasuredInterleaved_AndTheRatiosAreThoseOfTheRounds()
    {
        // The rows issue 17's one-way target is judged from: 10 rounds of one block per side (8-11 s at load 13-19 on
        // 2 vCPUs, most of it the other work's; the pingpong run above took 3 s at load 4 and 9 s at load 13).
        var (parsed, output) = RunIicAndRawShm32B("throughput", "poll", "0.05");
        using var document = parsed;
        var rows = document.RootElement.GetProperty("results").EnumerateArray()
            .Where(r => r.GetProperty("test").GetString() == "throughput" && r.GetProperty("size").GetInt32() == 32).ToList();
        var iic = Assert.Single(rows, r => r.GetProperty("transport").GetString() == "iic");
        var raw = Assert.Single(rows, r => r.GetProperty("transport").GetString() == "raw-shm");
        Assert.Equal("raw-shm", iic.GetProperty("interleaved_with").GetString());
        Assert.Equal("iic", raw.GetProperty("interleaved_with").GetString());
        var rounds = iic.GetProperty("rounds").GetInt32();
        Assert.True(rounds >= 6, $"{rounds} rounds");
        Assert.Equal(rounds, raw.GetProperty("rounds").GetInt32());
        Assert.Equal(iic.GetProperty("rounds_dropped").GetInt32(), raw.GetProperty("rounds_dropped").GetInt32());

        var iicRates = Longs(iic.GetProperty("round_msgs_per_s"));
        var rawRates = Longs(raw.GetProperty("round_msgs_per_s"));
        var ratios = iic.GetProperty("round_ratios").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (double?)null : e.GetDouble()).ToList();
        Assert.Equal(rounds, ratios.Count);
        Assert.Equal(rounds, iicRates.Count);
        Assert.Equal(rounds, rawRates.Count);
        Assert.Equal(iic.GetProperty("rounds_dropped").GetInt32(), ratios.Count(r => r is null));
        for (var round = 0; round < rounds; round++)
        {
            // A round is kept or dropped for both sides alike, and its ratio is its two blocks' rates.
            Assert.Equal(ratios[round] is null, iicRates[round] is null);
            Assert.Equal(ratios[round] is null, rawRates[round] is null);
            if (ratios[round] is { } ratio)
            {
                Assert.True(iicRates[round] > 0 && rawRates[round] > 0);
                Assert.Equal((double)iicRates[round]!.Value / rawRates[round]!.Value, ratio, 0.001 * ratio + 1e-4);
            }
        }
        var kept = ratios.OfType<double>().ToList();
        if (kept.Count > 0)
        {
            // The pair's probes are the medians of its kept rounds' (each kept round's probes answered and agreed).
            foreach (var row in new[] { iic, raw })
            {
                Assert.True(row.GetProperty("probe_ns_before").GetInt64() > 0 && row.GetProperty("probe_ns_after").GetInt64() > 0);
            }
            Assert.Equal(Results.RoundStatistics.Median(kept), iic.GetProperty("round_ratio_median").GetDouble(), 1e-4);
            Assert.Contains("32 B one-way poll: at least 80 % of raw-shm poll msgs/s, median of", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Sizes4KiB_IicAndRawShm_AreMeasuredInterleaved_AndJudgedByTheirRounds()
    {
        var json = Path.Combine(_directory, "sizes.json");
        var (exitCode, output) = RunJob(
            "sizes", "--transports", "iic,raw-shm", "--sizes", "4K", "--modes", "spin", "--isolation", "none",
            "--warmup", "0.05", "--json", json, "--png", Path.Combine(_directory, "sizes.png"));
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
        using var document = JsonDocument.Parse(File.ReadAllText(json));
        var rows = document.RootElement.GetProperty("results").EnumerateArray().ToList();
        var iic = rows.Single(r => r.GetProperty("transport").GetString() == "iic");
        var raw = rows.Single(r => r.GetProperty("transport").GetString() == "raw-shm");
        Assert.Single(rows, r => r.GetProperty("transport").GetString() == "memcpy");
        foreach (var row in new[] { iic, raw })
        {
            Assert.Equal("ok", row.GetProperty("status").GetString());
            Assert.Equal("sizes", row.GetProperty("test").GetString());
            Assert.Equal(4096, row.GetProperty("size").GetInt32());
        }
        // Interleaved (round 16), as the 32 B one-way pair: one ratio per round, the rounds' probes with them.
        Assert.Equal("raw-shm", iic.GetProperty("interleaved_with").GetString());
        Assert.Equal("iic", raw.GetProperty("interleaved_with").GetString());
        var rounds = iic.GetProperty("rounds").GetInt32();
        Assert.Equal(rounds, iic.GetProperty("round_ratios").GetArrayLength());
        Assert.Equal(rounds + 1, iic.GetProperty("round_probe_ns").GetArrayLength());
        if (iic.GetProperty("round_ratios").EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Null))
        {
            Assert.Contains("sizes 4 KiB: bytes delivered at least 80 % of raw-shm, median of", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void UnknownTransport_ExitsWithTwo_AndNamesIt()
    {
        var (exitCode, output) = RunJob("pingpong", "--transports", "iic,carrier-pigeon", "--json", Path.Combine(_directory, "never.json"));

        Assert.Equal(2, exitCode);
        Assert.Contains("Unknown transport(s): carrier-pigeon", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_directory, "never.json")));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static List<long?> Longs(JsonElement array)
        => [.. array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (long?)null : e.GetInt64())];

    /// <summary>One test of the job for iic and raw-shm, 32 B, spin, one API, short phases; fails unless it exits 0 and writes its JSON.</summary>
    private (JsonDocument Document, string Output) RunIicAndRawShm32B(string test, string api, string durationS)
    {
        var json = Path.Combine(_directory, test + ".json");
        var (exitCode, output) = RunJob(
            test, "--transports", "iic,raw-shm", "--sizes", "32", "--modes", "spin", "--api", api, "--isolation", "none",
            "--duration", durationS, "--warmup", "0.05", "--json", json, "--png", Path.Combine(_directory, test + ".png"));
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
        Assert.Contains($"JSON: {json}", output, StringComparison.Ordinal);
        return (JsonDocument.Parse(File.ReadAllText(json)), output);
    }

    private static (int ExitCode, string Output) RunJob(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "IIC.Perf.dll");
        Assert.True(File.Exists(dll), $"IIC.Perf.dll is missing next to the tests: {dll}");
        return Programs.Run(Dotnet.HostPath(), [dll, .. args], TimeSpan.FromSeconds(120)); // a placement probe may wait 5 s for an answer on a loaded machine
    }
}
