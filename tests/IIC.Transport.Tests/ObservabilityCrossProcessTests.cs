using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;
using System.Text.Json;
using IIC.Cli.Stat;
using IIC.Hardware;
using IIC.Tests;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace IIC.Transport.Tests;

/// <summary>
/// Observability from outside: a real child process runs a known IICFast workload and waits; the test attaches to
/// it over EventPipe (DiagnosticsClient + TraceEvent, the same reader <c>iic stat</c> uses) and reads the counters
/// and trace events, and runs <c>iic stat</c> itself as a process.
/// </summary>
public sealed class ObservabilityCrossProcessTests
{
    private const int Messages = 500;
    private const int Size = 64;
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(30);

    /// <summary>
    /// `iic stat --timeout` for runs that must succeed: its default (5 s for the meter to appear) is a user's wait, and
    /// on a loaded 2-core box the EventPipe session alone can take longer (a run of the suite under load 30 missed it).
    /// </summary>
    private const string LoadedBoxTimeout = "25";

    [Fact]
    public void Counters_read_over_EventPipe_match_the_child_workload()
    {
        var service = Unique("obs-xp");
        using var child = StartWorkload(service);
        using (var reader = MetricsReader.Start(child.Id))
        {
            var snapshot = reader.WaitFor(s => s.Get(service, "iic.messages.received") is not null, s_bound);
            Assert.True(snapshot is not null, $"no IIC.Transport values for '{service}' over EventPipe within {s_bound} (error: {reader.Error}, ended: {reader.Ended})");
            Assert.Equal(Messages, snapshot.Get(service, "iic.messages.sent"));
            Assert.Equal(Messages, snapshot.Get(service, "iic.messages.received"));
            Assert.Equal(Messages * Size, snapshot.Get(service, "iic.bytes.sent"));
            Assert.Equal(Messages * Size, snapshot.Get(service, "iic.bytes.received"));
            Assert.Equal(2, snapshot.Get(service, "iic.channels.active"));
            Assert.Equal(0, snapshot.Get(service, "iic.faults"));
            Assert.Equal(Messages, snapshot.Get(service, "iic.signals.raised")! + snapshot.Get(service, "iic.signals.suppressed")!);
            Assert.Equal(0, snapshot.Get("", "iic.partitions.active"));
            Assert.Equal(child.Id, snapshot.ProcessId);
        }
        child.WriteLine("exit");
        child.AssertExit(0);
    }

    [Fact]
    public async Task Channel_close_events_arrive_over_an_EventPipe_session_on_IIC_Transport()
    {
        var service = Unique("obs-ev");
        using var child = StartWorkload(service);
        var events = new ConcurrentQueue<(string Name, string Service, int Side, int ProcessId)>();
        var providers = new[] { new EventPipeProvider("IIC-Transport", EventLevel.Informational) };
        using (var session = new DiagnosticsClient(child.Id).StartEventPipeSession(providers, requestRundown: false))
        using (var source = new EventPipeEventSource(session.EventStream))
        {
            source.Dynamic.All += e =>
            {
                if (e.ProviderName == "IIC-Transport")
                {
                    events.Enqueue((e.EventName, Convert.ToString(e.PayloadByName("service"), CultureInfo.InvariantCulture) ?? "",
                        Convert.ToInt32(e.PayloadByName("side") ?? -1, CultureInfo.InvariantCulture), Convert.ToInt32(e.PayloadByName("processId") ?? -1, CultureInfo.InvariantCulture)));
                }
            };
            var processing = Task.Factory.StartNew(source.Process, TaskCreationOptions.LongRunning);
            child.WriteLine("close"); // the session is enabled in the child once StartEventPipeSession returned
            Assert.Equal("closed", child.ReadLine());
            session.Stop(); // flushes the child's buffers; the stream then ends
            await processing.WaitAsync(s_bound);
        }
        var closed = events.Where(e => e.Name == "ChannelClosed" && e.Service == service).OrderBy(e => e.Side).ToList();
        Assert.True(closed.Count == 2, "events received: " + string.Join("; ", events));
        Assert.Equal([0, 1], closed.Select(e => e.Side));
        Assert.All(closed, e => Assert.Equal(child.Id, e.ProcessId));
        child.WriteLine("exit");
        child.AssertExit(0);
    }

    [Fact]
    public async Task Every_event_in_the_README_table_arrives_over_EventPipe_with_its_fields()
    {
        var table = ReadmeEventTable();
        Assert.Equal(15, table.Count);
        using var child = ChildProcess.Start("obs-all-events");
        Assert.Equal("ready", child.ReadLine());
        var events = new ConcurrentQueue<(int Id, string Name, EventLevel Level, string[] Fields, object[] Values)>();
        var providers = new[] { new EventPipeProvider("IIC-Transport", EventLevel.Verbose) };
        using (var session = new DiagnosticsClient(child.Id).StartEventPipeSession(providers, requestRundown: false))
        using (var source = new EventPipeEventSource(session.EventStream))
        {
            source.Dynamic.All += e =>
            {
                if (e.ProviderName == "IIC-Transport" && e.EventName != "ManifestData")
                {
                    events.Enqueue(((int)e.ID, e.EventName, (EventLevel)e.Level, e.PayloadNames, [.. e.PayloadNames.Select((_, i) => e.PayloadValue(i))]));
                }
            };
            var processing = Task.Factory.StartNew(source.Process, TaskCreationOptions.LongRunning);
            child.WriteLine("emit");
            Assert.Equal("emitted", child.ReadLine());
            session.Stop();
            await processing.WaitAsync(s_bound);
        }
        foreach (var (id, name, level, fields) in table)
        {
            var received = events.Where(e => e.Name == name).ToList();
            Assert.True(received.Count == 1, $"{name}: {received.Count} events over EventPipe (received: {string.Join(", ", events.Select(e => e.Name))})");
            var e = received[0];
            Assert.Equal(id, e.Id);
            Assert.Equal(level, e.Level);
            Assert.Equal(fields, e.Fields);
            for (var i = 0; i < fields.Length; i++)
            {
                // The child's values (IIC.TestHost ObservabilityScenarios.EventArgument): distinct per event and field.
                object expected = e.Values[i] switch
                {
                    string => $"{name}.{fields[i]}",
                    long => 5_000_000_000L + (id * 10) + i,
                    _ => (id * 10) + i,
                };
                Assert.True(expected.Equals(e.Values[i]), $"{name}.{fields[i]} = {e.Values[i]} ({e.Values[i]?.GetType().Name}), expected {expected}");
            }
        }
        child.WriteLine("exit");
        child.AssertExit(0);
    }

    /// <summary>The README's trace event table (Observing, Trace events): id, name, level and field names per row.</summary>
    private static List<(int Id, string Name, EventLevel Level, string[] Fields)> ReadmeEventTable()
    {
        var rows = new List<(int, string, EventLevel, string[])>();
        var row = new System.Text.RegularExpressions.Regex(@"^\| (\d+) \| `(\w+)` \| (\w+) \| ([^|]+) \|");
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "README.md")))
        {
            if (row.Match(line) is { Success: true } m)
            {
                var fields = m.Groups[4].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(f => f.Split(' ')[0]).ToArray(); // "processId (of the dead peer)" names processId
                rows.Add((int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value, Enum.Parse<EventLevel>(m.Groups[3].Value), fields));
            }
        }
        return rows;
    }

    [Fact]
    public void Iic_stat_once_json_run_as_a_process_prints_the_child_counts()
    {
        var service = Unique("obs-stat");
        using var child = StartWorkload(service);
        var (exitCode, stdout, stderr) = RunIic("stat", child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--once", "--json", "--timeout", LoadedBoxTimeout);
        Assert.True(exitCode == 0, $"iic stat exited {exitCode}: {stderr}\n{stdout}");
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal(child.Id, root.GetProperty("pid").GetInt32());
        var counters = root.GetProperty("services").GetProperty(service);
        Assert.Equal(Messages, counters.GetProperty("iic.messages.sent").GetInt64());
        Assert.Equal(Messages, counters.GetProperty("iic.messages.received").GetInt64());
        Assert.Equal(Messages * Size, counters.GetProperty("iic.bytes.sent").GetInt64());
        Assert.Equal(2, counters.GetProperty("iic.channels.active").GetInt64());
        Assert.Equal(0, root.GetProperty("global").GetProperty("iic.partitions.active").GetInt64());
        child.WriteLine("exit");
        child.AssertExit(0);
    }

    [Fact]
    public void Iic_stat_on_a_client_process_shows_its_connected_channel_under_the_service_name()
    {
        var hypervisorName = Unique("obs-hv");
        var service = Unique("obs-client");
        using var hypervisor = Hypervisor.Start(hypervisorName);
        using var server = Partition.Attach(hypervisorName, "obs-server");
        using var listener = IicListener.Listen(server, service);
        using var child = ChildProcess.Start("obs-client", hypervisorName, service);
        using var accepted = listener.Accept(s_bound);
        Assert.Equal("ready", child.ReadLine());
        var (exitCode, stdout, stderr) = RunIic("stat", child.Id.ToString(CultureInfo.InvariantCulture), "--once", "--json", "--timeout", LoadedBoxTimeout);
        Assert.True(exitCode == 0, $"iic stat exited {exitCode}: {stderr}\n{stdout}");
        using var json = JsonDocument.Parse(stdout);
        var services = json.RootElement.GetProperty("services");
        Assert.True(services.TryGetProperty(service, out var counters), "the client's channel is not listed under its service: " + stdout);
        Assert.Equal(1, counters.GetProperty("iic.channels.active").GetInt64());
        Assert.False(services.TryGetProperty("", out _), "a channel without a service name: " + stdout);
        child.WriteLine("exit");
        child.AssertExit(0);
    }

    [Fact]
    public void Iic_stat_says_when_a_process_does_not_use_IICFast()
    {
        using var child = ChildProcess.Start("obs-idle");
        Assert.Equal("ready", child.ReadLine());
        var (exitCode, stdout, stderr) = RunIic("stat", child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--once", "--timeout", "2");
        Assert.True(exitCode == StatCommand.NotIicExitCode, $"exit {exitCode}: {stderr}\n{stdout}");
        Assert.Contains("does not use IICFast", stderr, StringComparison.Ordinal);
        child.WriteLine("exit");
        child.AssertExit(0);
    }

    [Fact]
    public void Iic_stat_says_when_it_cannot_attach()
    {
        // No such process.
        var (exitCode, _, stderr) = RunIic("stat", "2147483646", "--once");
        Assert.Equal(1, exitCode);
        Assert.Contains("No process with id 2147483646", stderr, StringComparison.Ordinal);

        // A process that is not .NET: no diagnostics socket.
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            (exitCode, _, stderr) = RunIic("stat", sleeper.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--once");
            Assert.Equal(1, exitCode);
            Assert.Contains("no .NET diagnostics socket", stderr, StringComparison.Ordinal);
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit(10_000);
        }
    }

    private static ChildProcess StartWorkload(string service)
    {
        var child = ChildProcess.Start("obs-workload", service, Messages.ToString(System.Globalization.CultureInfo.InvariantCulture), Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("ready", child.ReadLine());
        return child;
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Runs <c>dotnet iic.dll args</c> (built next to the tests), bounded.</summary>
    private static (int ExitCode, string Stdout, string Stderr) RunIic(params string[] args)
    {
        var iic = Path.Combine(AppContext.BaseDirectory, "iic.dll");
        Assert.True(File.Exists(iic), $"iic.dll is missing next to the tests: {iic}");
        var info = new ProcessStartInfo(Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(iic);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var exitBound = s_bound * 2; // above the longest --timeout given plus iic's own start-up on a loaded box
        if (!process.WaitForExit(exitBound))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"iic {string.Join(' ', args)} did not exit within {exitBound}");
        }
        Assert.True(Task.WaitAll([stdout, stderr], s_bound), "iic's output did not end");
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
