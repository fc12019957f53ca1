using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScottPlot;

namespace IIC.GrpcPerf;

/// <summary>The run's outputs: the JSON rows, a markdown table for perf/RESULTS.md, and a bar chart.</summary>
internal static class Report
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    public static string Machine()
    {
        static string Read(string path) => File.Exists(path) ? File.ReadAllText(path) : "";
        var cpu = Read("/proc/cpuinfo").Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        return string.Create(s_inv, $"{Environment.ProcessorCount} CPUs, {cpu}, Linux {Read("/proc/sys/kernel/osrelease").Trim()}, .NET {Environment.Version}, load average {Read("/proc/loadavg").Trim()}");
    }

    public static string Describe(PerfRow row) => row.MsgsPerS is { } rate && row.P50Ns is null
        ? string.Create(s_inv, $"{row.Path} {row.Test}: {rate:#,0} msgs/s")
        : string.Create(s_inv, $"{row.Path} {row.Test}: p50 {row.P50Ns / 1000:0.0} µs, p99 {row.P99Ns / 1000:0.0} µs");

    /// <summary>One line per path: each test's p50/p99 in µs or rate, the unary p50 against HTTP/2 TCP, and unary-idle against raw-futex.</summary>
    public static string Table(IReadOnlyList<PerfRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| path | unary p50 µs | unary p99 µs | unary-idle p50 µs | unary-idle p99 µs | server-stream msgs/s | bidi p50 µs | bidi p99 µs | HTTP/2 TCP unary p50 / this | unary-idle p50 / raw-futex |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var tcp = rows.FirstOrDefault(r => r.Path == "http2-tcp" && r.Test == "unary")?.P50Ns;
        var rawFutex = rows.FirstOrDefault(r => r.Path == "raw-futex" && r.Test == "unary-idle")?.P50Ns;
        foreach (var path in rows.Select(r => r.Path).Distinct())
        {
            PerfRow? Get(string test) => rows.FirstOrDefault(r => r.Path == path && r.Test == test);
            static string Us(double? ns) => ns is { } v ? (v / 1000).ToString("0.0", s_inv) : "-";
            var unary = Get("unary");
            var idle = Get("unary-idle");
            var bidi = Get("bidi-pingpong");
            var rate = Get("server-stream")?.MsgsPerS is { } r ? r.ToString("#,0", s_inv) : "-";
            var ratio = tcp is { } t && unary?.P50Ns is { } p ? (t / p).ToString("0.0", s_inv) + "x" : "-";
            var idleRatio = rawFutex is { } f && idle?.P50Ns is { } q ? (q / f).ToString("0.00", s_inv) + "x" : "-";
            text.AppendLine(string.Create(s_inv, $"| {path} | {Us(unary?.P50Ns)} | {Us(unary?.P99Ns)} | {Us(idle?.P50Ns)} | {Us(idle?.P99Ns)} | {rate} | {Us(bidi?.P50Ns)} | {Us(bidi?.P99Ns)} | {ratio} | {idleRatio} |"));
        }
        return text.ToString();
    }

    public static void WriteJson(string path, string machine, IReadOnlyList<PerfRow> rows)
    {
        var results = new JsonArray();
        foreach (var row in rows)
        {
            var item = new JsonObject { ["path"] = row.Path, ["test"] = row.Test };
            if (row.P50Ns is { } p50)
            {
                item["p50_ns"] = Math.Round(p50);
                item["p99_ns"] = Math.Round(row.P99Ns!.Value);
            }
            if (row.MsgsPerS is { } rate)
            {
                item["msgs_per_s"] = Math.Round(rate);
            }
            results.Add(item);
        }
        var document = new JsonObject { ["machine"] = machine, ["results"] = results };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>p50 latency per test (grouped bars, one colour per path, log scale); false when there is nothing to draw.</summary>
    public static bool SaveChart(string path, string machine, IReadOnlyList<PerfRow> rows)
    {
        var latency = rows.Where(r => r.P50Ns is > 0).ToList();
        if (latency.Count == 0)
        {
            return false;
        }
        var plot = new Plot();
        var paths = latency.Select(r => r.Path).Distinct().ToList();
        var tests = latency.Select(r => r.Test).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        for (var p = 0; p < paths.Count; p++)
        {
            var bars = new List<Bar>();
            foreach (var row in latency.Where(r => r.Path == paths[p]))
            {
                var position = tests.IndexOf(row.Test) * (paths.Count + 1) + p;
                bars.Add(new Bar { Position = position, Value = Math.Log10(row.P50Ns!.Value / 1000), FillColor = palette.GetColor(p) });
            }
            var series = plot.Add.Bars(bars);
            series.LegendText = paths[p];
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (var t = 0; t < tests.Count; t++)
        {
            ticks.AddMajor(t * (paths.Count + 1) + (paths.Count - 1) / 2.0, tests[t]);
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString(y < 0 ? "0.###" : "#,0", s_inv),
        };
        plot.Title($"gRPC p50 latency by path ({machine.Split(',')[0]})");
        plot.YLabel("p50 latency (µs, log scale)");
        plot.ShowLegend(Edge.Right);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, 1200, 700);
        return true;
    }
}
