using System.Diagnostics;
using System.Text.Json;
using IIC.Perf.Core;
using IIC.Perf.Harness;
using IIC.Perf.Isolation;
using IIC.Perf.Results;
using IIC.Perf.Transports;

namespace IIC.Perf.Cli;

/// <summary>The parent process: plans the run, makes each measurement with progress on stderr, prints the tables and writes the JSON and the chart.</summary>
internal static class BenchCommand
{
    public static int Run(string[] args)
    {
        BenchOptions options;
        try
        {
            options = OptionsParser.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(OptionsParser.Usage);
            return 2;
        }
        if (options.ShowHelp)
        {
            Console.WriteLine(OptionsParser.Usage);
            return 0;
        }

        var transports = TransportRegistry.Create();
        try
        {
            if (options.ListTransports)
            {
                foreach (var transport in transports)
                {
                    var reason = transport.Unavailable();
                    Console.WriteLine($"{transport.Name,-10} {string.Join(',', transport.Modes),-26} {transport.Description}{(reason is null ? "" : $"  [unavailable: {reason}]")}");
                }
                return 0;
            }
            var unknown = options.Transports?.Where(name => TransportRegistry.Find(transports, name) is null).ToList() ?? [];
            if (unknown.Count > 0)
            {
                Console.Error.WriteLine($"Unknown transport(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", transports.Select(t => t.Name))}.");
                return 2;
            }
            var selected = options.Transports is null ? transports : [.. transports.Where(t => options.Transports.Contains(t.Name, StringComparer.OrdinalIgnoreCase))];
            selected = [.. selected.Where(t => IsolationKind.Includes(options.Isolation, t))];
            return Measure(options, selected, args);
        }
        finally
        {
            foreach (var disposable in transports.OfType<IDisposable>())
            {
                disposable.Dispose();
            }
        }
    }

    private static int Measure(BenchOptions options, IReadOnlyList<IBenchTransport> transports, string[] args)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var machine = MachineInfo.Current();
        var pin = options.Pin && CpuPinning.IsPossible;
        if (options.Pin && !pin)
        {
            Console.Error.WriteLine("--pin needs at least 2 CPUs; running unpinned.");
        }
        if (pin)
        {
            CpuPinning.PinMainThread(CpuPinning.ClientCpu);
        }
        Console.Error.WriteLine($"IIC.Perf: {machine.Cpus} CPUs, {machine.CpuModel}, Linux {machine.Kernel}, {machine.Runtime}{(pin ? ", pinned" : "")}, load average {machine.LoadAvg:0.00}");
        if (machine.IsBusy)
        {
            Console.Error.WriteLine($"warning: load average {machine.LoadAvg:0.00} on {machine.Cpus} CPUs: other work competes for the CPUs, so spinning transports will look much worse than they are. Measure on a quiet machine.");
        }

        if (LauncherQuiet.WaitForQuietParent(TimeSpan.FromSeconds(10)) is { } launcher)
        {
            Console.Error.WriteLine(launcher);
        }
        using var probe = PlacementProbe.TryStart();
        var items = BenchPlanner.Expand(options, transports);
        var runner = new MeasurementRunner(pin, options.TimeoutS, options.WarmupGiven ? null : ReusedWarmupS());
        var results = new List<BenchResult>();
        var index = 0;
        foreach (var item in items)
        {
            index++;
            if (item.Row is { } row)
            {
                Progress.Report(index, items.Count, item.Label, row, TimeSpan.Zero);
                results.Add(row);
                continue;
            }
            var measureClock = Stopwatch.StartNew();
            if (item.LocalRows is { } many)
            {
                foreach (var manyRow in RunLocalRows(item.Label, () => many(probe, pin)))
                {
                    var label = manyRow.InterleavedWith is { } partner
                        ? $"{manyRow.Test} {manyRow.Transport} {manyRow.Mode} {manyRow.Api} {SizeText.Format(manyRow.Size)} (with {partner})"
                        : item.Label;
                    Progress.Report(index, items.Count, label, manyRow, measureClock.Elapsed);
                    results.Add(manyRow);
                }
                continue;
            }
            var before = probe?.Measure();
            var result = item.Plan is { } plan ? runner.Run(plan) : RunLocal(item);
            result = Placement.WithProbes(result, before, probe?.Measure(), probing: probe is not null);
            Progress.Report(index, items.Count, item.Label, result, measureClock.Elapsed);
            results.Add(result);
        }

        ChildPool.Shutdown();
        Scale.FanInBench.Shutdown(); // idle senders of a fan-in row whose successor failed to run
        ConsoleReport.Print(Console.Out, machine, results);
        var outputDirectory = OutputPaths.DefaultDirectory();
        var jsonPath = options.JsonPath ?? Path.Combine(outputDirectory, "results.json");
        var pngPath = options.PngPath ?? Path.Combine(outputDirectory, "latency.png");
        WriteJson(jsonPath, new ResultsDocument(machine, results, "IIC.Perf " + string.Join(' ', args), started));
        var charted = LatencyChart.Save(pngPath, machine, results);
        Console.WriteLine();
        Console.WriteLine($"JSON: {jsonPath}");
        Console.WriteLine(charted ? $"Chart: {pngPath}" : "Chart: no latency results to draw");
        foreach (var chart in ScalingCharts.Save(Path.GetDirectoryName(Path.GetFullPath(pngPath))!, machine, results))
        {
            Console.WriteLine($"Chart: {chart}");
        }
        Console.WriteLine($"Total time: {clock.Elapsed.TotalSeconds:0.0} s");
        var failed = results.Count(r => r.Status == BenchResult.Failed);
        if (failed > 0)
        {
            Console.Error.WriteLine($"{failed} measurement(s) failed; see the rows marked 'failed'.");
        }
        return failed > 0 ? 1 : 0;
    }

    /// <summary>A measurement the parent makes itself (memcpy, fan-in, connect); a failure becomes a row that says why.</summary>
    private static BenchResult RunLocal(PlannedItem item)
    {
        try
        {
            return item.LocalRun!();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var parts = item.Label.Split(' ');
            return new BenchResult { Test = parts[0], Transport = parts.Length > 1 ? parts[1] : "-", Mode = "-", Size = 0, Status = BenchResult.Failed, Reason = $"{e.GetType().Name}: {e.Message}" };
        }
    }

    /// <summary>A local measurement with several rows (their probes its own, see <see cref="PlannedItem.LocalMany"/>); a failure becomes one row that says why.</summary>
    private static IReadOnlyList<BenchResult> RunLocalRows(string label, Func<IReadOnlyList<BenchResult>> run)
    {
        try
        {
            return run();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var parts = label.Split(' ');
            return [new BenchResult { Test = parts[0], Transport = parts.Length > 1 ? parts[1] : "-", Mode = "-", Size = 0, Status = BenchResult.Failed, Reason = $"{e.GetType().Name}: {e.Message}" }];
        }
    }

    /// <summary><see cref="BenchOptions.DefaultReusedWarmupS"/>, or <c>IIC_PERF_REUSED_WARMUP_S</c> (seconds).</summary>
    internal static double ReusedWarmupS()
    {
        var text = Environment.GetEnvironmentVariable("IIC_PERF_REUSED_WARMUP_S");
        if (string.IsNullOrEmpty(text))
        {
            return BenchOptions.DefaultReusedWarmupS;
        }
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? seconds
            : throw new ArgumentException($"IIC_PERF_REUSED_WARMUP_S is '{text}': give seconds (e.g. 0.25), or unset it.");
    }

    private static void WriteJson(string path, ResultsDocument document)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(document, PerfJson.Indented.ResultsDocument) + Environment.NewLine);
    }
}
