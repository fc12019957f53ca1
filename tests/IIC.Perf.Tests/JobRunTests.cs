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
    public void PingPong32B_PollClaim_IicAndRawShm_WritesProbedRows()
    {
        var json = Path.Combine(_directory, "results.json");
        var (exitCode, output) = RunJob(
            "pingpong", "--transports", "iic,raw-shm", "--sizes", "32", "--modes", "spin", "--api", "poll-claim", "--isolation", "none",
            "--duration", "0.1", "--warmup", "0.05", "--json", json, "--png", Path.Combine(_directory, "latency.png"));

        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{output}");
        Assert.Contains($"JSON: {json}", output, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(File.ReadAllText(json));
        var rows = document.RootElement.GetProperty("results").EnumerateArray().ToList();
        // One poll-claim row per transport (the planner also runs each transport's receive row beside it).
        Assert.Equal(new[] { "iic", "raw-shm" }, rows.Where(r => r.GetProperty("api").GetString() == "poll-claim").Select(r => r.GetProperty("transport").GetString()).Order());
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
            // Both probes unanswered leave the row as if it had never been probed (Placement.WithProbes): no fields.
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
        Assert.Contains("/tmp", document.RootElement.GetProperty("command").GetString() ?? "", StringComparison.Ordinal);
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

    private static (int ExitCode, string Output) RunJob(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "IIC.Perf.dll");
        Assert.True(File.Exists(dll), $"IIC.Perf.dll is missing next to the tests: {dll}");
        return Programs.Run(Dotnet.HostPath(), [dll, .. args], TimeSpan.FromSeconds(60));
    }
}
