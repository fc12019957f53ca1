using System.Text.Json;
using IIC.Perf.Harness;
using IIC.Perf.Results;

namespace IIC.Perf.Tests;

/// <summary>The results file's schema (issue 17): snake_case names, every row with its probes and its test, ping-pong rows with their api.</summary>
public sealed class ResultsJsonTests
{
    private static readonly MachineInfo s_machine = new(2, "test cpu", "6.0", ".NET 10", "Linux", 0.5);

    [Fact]
    public void Document_WritesTheSchemasNames_InSnakeCase_AndLeavesNullsOut()
    {
        var pingPong = Rows.PingPong("iic", "poll-claim", 160, 125, 130);
        var interleaved = Placement.WithProbes(Rows.InterleavedOneWay("poll", 0.9, null, 0.85), (125, 250), (126, 250), probing: true) with { RoundProbeNs = [125, 130, null, 126] };

        using var json = Write(pingPong, interleaved);
        var root = json.RootElement;

        Assert.Equal(2, root.GetProperty("machine").GetProperty("cpus").GetInt32());
        Assert.Equal("IIC.Perf test", root.GetProperty("command").GetString());
        Assert.True(root.TryGetProperty("started_utc", out _));
        var rows = root.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);

        var row = rows[0];
        Assert.Equal("pingpong", row.GetProperty("test").GetString());
        Assert.Equal("iic", row.GetProperty("transport").GetString());
        Assert.Equal("spin", row.GetProperty("mode").GetString());
        Assert.Equal("poll-claim", row.GetProperty("api").GetString());
        Assert.Equal(32, row.GetProperty("size").GetInt32());
        Assert.Equal("none", row.GetProperty("isolation").GetString());
        Assert.Equal(160, row.GetProperty("p50_ns").GetInt64());
        Assert.Equal(125, row.GetProperty("probe_ns_before").GetInt64());
        Assert.Equal(130, row.GetProperty("probe_ns_after").GetInt64());
        Assert.Equal(250, row.GetProperty("probe_p99_ns_before").GetInt64());
        Assert.Equal(260, row.GetProperty("probe_p99_ns_after").GetInt64());
        Assert.False(row.GetProperty("probe_moved").GetBoolean());
        Assert.Equal("ok", row.GetProperty("status").GetString());
        foreach (var absent in new[] { "channels", "msgs_per_s", "reason", "is_ok", "placement", "IsOk", "P50Ns" })
        {
            Assert.False(row.TryGetProperty(absent, out _), $"'{absent}' should not be written");
        }

        var oneWay = rows[1];
        Assert.Equal("raw-shm", oneWay.GetProperty("interleaved_with").GetString());
        Assert.Equal(3, oneWay.GetProperty("rounds").GetInt32());
        Assert.Equal(1, oneWay.GetProperty("rounds_dropped").GetInt32());
        var ratios = oneWay.GetProperty("round_ratios").EnumerateArray().ToList();
        Assert.Equal(JsonValueKind.Null, ratios[1].ValueKind); // a dropped round stays in its place
        Assert.Equal(0.875, oneWay.GetProperty("round_ratio_median").GetDouble(), 9);
        var probes = oneWay.GetProperty("round_probe_ns").EnumerateArray().ToList();
        Assert.Equal(4, probes.Count); // before each round and after the last
        Assert.Equal(JsonValueKind.Null, probes[2].ValueKind);
        Assert.Equal(126, probes[3].GetInt64());
    }

    [Fact]
    public void EveryPropertyName_IsSnakeCase()
    {
        using var json = Write(
            Rows.PingPong("iic", "receive", 150, 125, 130),
            Rows.Channels(10, 20_000) with { RoundP50Ns = [1, null], WokenPct = 99.5, P50RatioToFewest = 1.1, P50RatioLow = 1, P50RatioHigh = 1.2, IdleCpuPct = 0.01 });

        foreach (var name in Names(json.RootElement))
        {
            Assert.Matches("^[a-z0-9]+(_[a-z0-9]+)*$", name);
        }
    }

    [Fact]
    public void Document_ReadsBackWhatItWrote()
    {
        var written = new ResultsDocument(s_machine, [Rows.PingPong("iic", "poll-claim", 160, 125, 130), Rows.InterleavedOneWay("poll", 0.9, null)], "IIC.Perf test", DateTimeOffset.UnixEpoch);
        var text = JsonSerializer.Serialize(written, PerfJson.Indented.ResultsDocument);

        var read = JsonSerializer.Deserialize(text, PerfJson.Default.ResultsDocument);

        Assert.NotNull(read);
        Assert.Equal(s_machine, read.Machine);
        Assert.Equal(written.Results[0] with { Curve = null }, read.Results[0] with { Curve = null });
        Assert.Equal(new double?[] { 0.9, null }, read.Results[1].RoundRatios!);
        Assert.Equal(text, JsonSerializer.Serialize(read, PerfJson.Indented.ResultsDocument));
    }

    [Fact]
    public void InterleavedPingPongRows_WriteTheirRoundsP50AndP99_AndTheIicRowItsRatios()
    {
        var (iic, raw) = Rows.InterleavedPingPong("receive", [1.05, null, 0.95], p99Ratios: [1.2, null, 1.0], p999Ratios: [1.4, null, 1.2]);
        iic = iic with { RoundP50Ns = [147, null, 133], RoundP99Ns = [240, null, 200], RoundP999Ns = [700, null, 600], RoundP99RatioMedian = 1.1, RoundP999RatioMedian = 1.3, RoundProbeNs = [130, 131, null, 129], RoundProbeP99Ns = [260, 262, null, 258] };
        iic = iic with { RoundProbeRatios = RoundStatistics.ByRound(iic.RoundP50Ns, iic.RoundProbeNs), RoundProbeP99Ratios = RoundStatistics.ByRound(iic.RoundP99Ns, iic.RoundProbeP99Ns) };
        raw = raw with { RoundP50Ns = [140, null, 140], RoundP99Ns = [200, null, 200], RoundP999Ns = [500, null, 500] };

        using var json = Write(iic, raw);
        var rows = json.RootElement.GetProperty("results").EnumerateArray().ToList();

        var mine = rows[0];
        Assert.Equal("raw-shm", mine.GetProperty("interleaved_with").GetString());
        Assert.Equal(3, mine.GetProperty("rounds").GetInt32());
        Assert.Equal(1, mine.GetProperty("rounds_dropped").GetInt32());
        Assert.Equal(new double?[] { 1.05, null, 0.95 }, Doubles(mine.GetProperty("round_ratios")));
        Assert.Equal(1.0, mine.GetProperty("round_ratio_median").GetDouble(), 9);
        Assert.Equal(new double?[] { 1.2, null, 1.0 }, Doubles(mine.GetProperty("round_p99_ratios")));
        Assert.Equal(1.1, mine.GetProperty("round_p99_ratio_median").GetDouble(), 9);
        Assert.Equal(new double?[] { 147, null, 133 }, Doubles(mine.GetProperty("round_p50_ns")));
        Assert.Equal(new double?[] { 240, null, 200 }, Doubles(mine.GetProperty("round_p99_ns")));
        Assert.Equal(new double?[] { 700, null, 600 }, Doubles(mine.GetProperty("round_p999_ns"))); // round 21
        Assert.Equal(new double?[] { 1.4, null, 1.2 }, Doubles(mine.GetProperty("round_p999_ratios")));
        Assert.Equal(1.3, mine.GetProperty("round_p999_ratio_median").GetDouble(), 9);
        Assert.Equal(4, mine.GetProperty("round_probe_ns").GetArrayLength());
        Assert.Equal(4, mine.GetProperty("round_probe_p99_ns").GetArrayLength());
        Assert.Equal(new double?[] { 1.1308, null, null }, Doubles(mine.GetProperty("round_probe_ratios"))); // 147 over 130; round 2's probe did not answer
        Assert.Equal(new double?[] { 0.9231, null, null }, Doubles(mine.GetProperty("round_probe_p99_ratios"))); // 240 over 260

        var theirs = rows[1];
        Assert.Equal("iic", theirs.GetProperty("interleaved_with").GetString());
        Assert.Equal(new double?[] { 200, null, 200 }, Doubles(theirs.GetProperty("round_p99_ns")));
        Assert.Equal(new double?[] { 500, null, 500 }, Doubles(theirs.GetProperty("round_p999_ns")));
        Assert.False(theirs.TryGetProperty("round_p999_ratios", out _));
        Assert.False(theirs.TryGetProperty("round_ratios", out _)); // the ratios are the first row's
        Assert.False(theirs.TryGetProperty("round_p99_ratios", out _));
        Assert.False(theirs.TryGetProperty("round_probe_ratios", out _));
    }

    private static double?[] Doubles(JsonElement array)
        => [.. array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (double?)null : e.GetDouble())];

    private static JsonDocument Write(params BenchResult[] rows)
    {
        var text = JsonSerializer.Serialize(new ResultsDocument(s_machine, rows, "IIC.Perf test", DateTimeOffset.UtcNow), PerfJson.Indented.ResultsDocument);
        return JsonDocument.Parse(text);
    }

    private static IEnumerable<string> Names(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                yield return property.Name;
                foreach (var inner in Names(property.Value))
                {
                    yield return inner;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                foreach (var inner in Names(item))
                {
                    yield return inner;
                }
            }
        }
    }
}
